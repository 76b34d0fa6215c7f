"""Training commands: pretrain (the embedded model's recipe), train (GRPO on this machine), select (data)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..pretrain.config import PretrainConfig
from ..rl.config import TrainConfig
from ..rl.selection import SelectConfig
from .app import app, console
from .options import ModelOption, RevisionOption, config_command


@config_command(app, PretrainConfig)
def pretrain(
    cfg: PretrainConfig, export: Path | None = typer.Option(None, help="copy the final model (no optimizer state) here")
) -> None:
    """Pretrain the tiny model on zoom-world skills: grounding, crop reading, direct answers, tool syntax
    (resumable; the embedded model's stages are in recipes/embedded_model/)."""
    import shutil

    from ..pretrain.train import run

    checkpoint = run(cfg, log=console.print)
    if export:
        shutil.rmtree(export, ignore_errors=True)
        shutil.copytree(checkpoint, export, ignore=shutil.ignore_patterns("trainer_state.pt", "COMPLETE"))
        console.print(f"exported the model to {export}")


@config_command(app, TrainConfig)
def train(
    cfg: TrainConfig, resume: bool = typer.Option(False, help="continue from the run folder's last checkpoint")
) -> None:
    """RL (GRPO) on trajectories of the agent graph with the DeepEyes reward, on this machine
    (`deepeyes-agent openrlhf train` runs the same config on a Ray cluster)."""
    from rich.progress import Progress

    from ..checkpoint import latest
    from ..curves import plot_metrics
    from ..errors import InputError
    from ..rl.trainer import LocalTrainer

    if latest(cfg.out) is not None and not resume:
        raise InputError(f"{cfg.out} already holds a checkpoint: pass --resume to continue it, or pick a new --out")
    trainer = LocalTrainer(cfg)
    with Progress(console=console) as bar:
        task = bar.add_task("GRPO", total=cfg.steps, completed=trainer.start_step)
        trainer.run(
            log=lambda r: console.print(
                f"step {r['step']}: reward {r['reward']:.3f} acc {r['reward/accuracy']:.2f} tool {r['tool_call_rate']:.2f} "
                f"loss {r['loss']:.4f}"
                + (
                    f" | eval acc {r['eval/accuracy']:.3f} tool {r['eval/tool_call_rate']:.2f}"
                    if "eval/accuracy" in r
                    else ""
                )
            ),
            progress=lambda: bar.advance(task),
        )
    png = plot_metrics(
        cfg.out / "metrics.jsonl",
        cfg.out / "curves.png",
        title="GRPO on the agent graph",
        keys=[
            "reward",
            "reward/accuracy",
            "tool_call_rate",
            "crops_per_answer",
            "response_length",
            "entropy",
            "kl",
            "eval/accuracy",
            "eval/tool_call_rate",
        ],
    )
    console.print(f"curves: {png}")


@config_command(app, SelectConfig, name="select")
def select_rows(cfg: SelectConfig, model: ModelOption = None, revision: RevisionOption = None) -> None:
    """Tool-use-oriented data selection: difficulty filter plus the tool-benefit criterion."""
    from ..backends import SamplingParams, TransformersBackend
    from ..graphs import AgentConfig
    from ..models import resolve_model_dir
    from ..rl.selection import select

    model_dir = resolve_model_dir(model, revision, progress=True)
    agent = AgentConfig.for_model(model_dir, sampling=SamplingParams(max_tokens=64))
    report = select(cfg, TransformersBackend.from_pretrained(model_dir, placement=cfg.placement(model_dir)), agent)
    console.print_json(json.dumps({k: v for k, v in report.items() if k != "config"}))
