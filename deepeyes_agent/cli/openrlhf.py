"""``deepeyes-agent openrlhf``: the same training config on a Ray cluster with OpenRLHF (vLLM rollouts, DeepSpeed)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from ..rl.config import TrainConfig
from ..rl.openrlhf.command import ClusterConfig
from .app import Command, app, console
from .options import config_command

group = typer.Typer(
    no_args_is_help=True,
    help="Scale out on OpenRLHF: export the rows, write the agent settings, "
    "launch train_ppo_ray (Ray + vLLM + DeepSpeed).",
)
app.add_typer(group, name="openrlhf")


@config_command(group, TrainConfig, name="train", also={"cluster": ClusterConfig})
def openrlhf_train(
    cfg: TrainConfig,
    cluster: ClusterConfig,
    dry_run: bool = typer.Option(False, help="write the dataset and agent settings, print the command, run nothing"),
) -> None:
    """Prepare an OpenRLHF run of the training config: OUT/openrlhf/prompts.jsonl, agent_settings.json, and the
    train_ppo_ray command — printed (--dry-run) or launched (`ray job submit`, or this node with --launcher direct)."""
    from ..rl.openrlhf.launch import prepare_and_launch

    raise typer.Exit(prepare_and_launch(cfg, cluster, dry_run=dry_run, echo=typer.echo))


# the trainer's own settings: OpenRLHF's DeepSpeed side is not run by `rollout`
TRAINING_ONLY = {
    "device", "dtype", "compile", "eval_data", "eval_every", "eval_limit", "steps", "rollout_backend", "concurrency",
    "lr", "weight_decay", "grad_clip", "micro_batch", "precision", "gradient_checkpointing", "optimizer", "lora",
    "grpo", "save_every", "threads",
}  # fmt: skip


@config_command(group, TrainConfig, name="rollout", skip=TRAINING_ONLY)
def openrlhf_rollout(
    cfg: TrainConfig,
    engine_dtype: Literal["bfloat16", "float32"] = typer.Option(
        "bfloat16",
        help="the vLLM engine's precision: bfloat16 is what train_ppo_ray runs; float32 gives the logprobs a float32 "
        "trainer computes (to 1e-3)",
    ),
):
    """One training step's rollouts on OpenRLHF's own Ray rollout machinery (its vLLM engine actor, agent loader and
    sample generator; no GPU needed): check the data, tools and settings of `openrlhf train` before booking GPUs.
    Prints each episode (turns, crops, reward parts, tokens); writes OUT/trajectories/*.json for `view` and
    OUT/summary.json."""
    from ..rl.openrlhf.rollout import run_rollout

    result = run_rollout(cfg, dtype=engine_dtype)
    _print_rollout(result, cfg, engine_dtype)
    return result  # for a caller that runs the command in-process (the tests): the Experiences


def _print_rollout(result, cfg: TrainConfig, engine_dtype: str) -> None:
    """Each prompt with its truth, then one line per rollout (80 columns; the trajectories hold the texts whole), then
    the step's totals."""

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    def cut(text: str, n: int) -> str:
        return text if len(text) <= n else text[: n - 1] + "…"

    episodes, t = sorted(result.episodes, key=lambda e: (e.row or 0, e.sample)), result.timings
    say("what one step would train on — reward: total (accuracy format tool) · tokens: sequence/actions")
    for i, e in enumerate(episodes):
        if i == 0 or (e.row, e.question) != (episodes[i - 1].row, episodes[i - 1].question):
            say(f"row {e.row or '-'}  {cut(e.question, 56)}  (truth: {cut(e.truth, 24)})")
        say(
            f"  {e.sample:<2} turns {e.turns}  crops {e.crops}  {cut(str(e.answer), 18):<18}  "
            f"reward {e.reward:.2f} ({e.accuracy:g} {e.format:g} {e.tool:g})  tokens {e.tokens}/{e.action_tokens}"
        )
    n = max(1, len(episodes))
    calls = (
        {name: sum(e.tool_calls.get(name, 0) for e in episodes) for name in episodes[0].tool_calls} if episodes else {}
    )
    say(
        f"{len(episodes)} episodes ({cfg.rollouts_per_prompt} per prompt): mean reward "
        f"{sum(e.reward for e in episodes) / n:.2f}, accuracy {sum(e.accuracy for e in episodes) / n:.0%}, "
        f"{sum(e.crops > 0 for e in episodes)} with crops; tool calls: "
        + (", ".join(f"{name} {k}" for name, k in calls.items()) or "none")
        + f"; {sum(e.tokens for e in episodes)} tokens, {sum(e.action_tokens for e in episodes)} on actions"
    )
    say(f"Ray {t['ray_init_s']} s · engine up {t['engine_up_s']} s ({engine_dtype}) · rollout {t['rollout_s']} s")
    say(f"summary: {result.folder / 'summary.json'}")
    first = next((e.trajectory for e in episodes if e.trajectory), None)
    if first:
        say(f"trajectories: {first.parent}; view one: deepeyes-agent view {first} --images {result.folder / 'images'}")


@group.command(name="export", cls=Command)
def export(
    data: Path = typer.Argument(
        ...,
        exists=True,
        metavar="DATA",
        help="zoom-world / V* / HR-Bench / DeepEyes-style JSONL, a V* folder, or a DeepEyes-47k parquet",
    ),
    out: Path = typer.Argument(
        ..., metavar="OUT", help="OpenRLHF prompt JSONL to write (a parquet in: .parquet, columns intact)"
    ),
    order: Literal["shuffle", "cycle", "fixed"] = typer.Option("shuffle", help="option order (fixed: as stored)"),
    seed: int = typer.Option(0, help="seeds the option order"),
) -> None:
    """Rows → OpenRLHF prompts (prompt, images, label); bad rows and missing images reported by line."""
    from ..rl.openrlhf.export import export_openrlhf

    report = export_openrlhf(data, out, order=order, seed=seed)
    for bad in report.skipped:
        console.print(f"[yellow]skipped line {bad['line']}[/]: {bad['reason']}")
    console.print(
        f"wrote {report.written} rows to {report.path}"
        + (f" ({len(report.skipped)} skipped)" if report.skipped else "")
        + (" — a parquet's rows stay a parquet, every column intact" if report.path != out else "")
    )
    if not report.written:
        raise typer.Exit(1)
