"""``deepeyes-agent`` command line."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.panel import Panel

from .zoom import CoordinateFrame

BACKEND_HELP = "transformers (in-process torch), vllm (an in-process vLLM engine) or server (a running vLLM server)"
SERVER_URL_HELP = "URL of a vLLM server serving MODEL (deepeyes-agent serve-model); implies --backend server"

# locals are never shown in a traceback: they can hold API keys
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False,
                  help="Thinking with images: a VLM that zooms into its own image.")
console = Console()
_debug = False


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="show the traceback of any error")) -> None:
    global _debug
    _debug = debug
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no hub here: a bad model name fails at once
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


@app.command()
def ask(
    image: Path = typer.Argument(..., exists=True, dir_okay=False, help="image file"),
    question: str = typer.Argument(..., help="question about the image"),
    model: Optional[Path] = typer.Option(None, help="local model folder (default: the embedded tiny model)"),
    option: list[str] = typer.Option([], "--option", "-o", help="answer option (repeat for multiple choice)"),
    max_turns: int = typer.Option(5, help="model turns per episode (DeepEyes: 5)"),
    max_new_tokens: int = typer.Option(256, help="tokens per model turn"),
    temperature: float = typer.Option(0.0, help="0 = greedy"),
    seed: int = typer.Option(0),
    frame: Optional[CoordinateFrame] = typer.Option(None, help="frame of the model's boxes (default: from the model family)"),
    deepeyes_parity: bool = typer.Option(False, help="treat boxes as original-image pixels, as DeepEyes did"),
    save_trace: Optional[Path] = typer.Option(None, help="write a picture of the trajectory (PNG)"),
    save_json: Optional[Path] = typer.Option(None, help="write the trajectory as JSON"),
    backend: str = typer.Option("transformers", help=BACKEND_HELP),
    server_url: Optional[str] = typer.Option(None, help=SERVER_URL_HELP),
    served_model: Optional[str] = typer.Option(None, help="the server's model name (--served-model-name)"),
) -> None:
    """Answer QUESTION about IMAGE, zooming in as the model decides; prints every turn."""
    from .backends import SamplingParams
    from .backends.factory import make_backend
    from .graphs import AgentConfig, create_visual_agent
    from .images import ImageStore
    from .models import resolve_model_dir
    from .trace import save_trace as write_trace
    from .trajectory import Trajectory
    from .zoom import ZoomConfig

    model_dir = resolve_model_dir(model)
    console.print(f"[dim]model: {model_dir}[/dim]")
    policy = make_backend(backend, model_dir, server_url=server_url, served_model=served_model, max_images=max_turns + 1)
    store = ImageStore()
    config = AgentConfig.for_model(model_dir, max_turns=max_turns,
                                   sampling=SamplingParams(max_tokens=max_new_tokens, temperature=temperature, seed=seed))
    config.zoom = ZoomConfig(frame=frame or config.zoom.frame, deepeyes_parity=deepeyes_parity)
    agent = create_visual_agent(policy, config=config, store=store)
    result = agent.invoke({"image": str(image), "question": question, "options": option or None})
    traj = Trajectory.model_validate(result["trajectory"])
    print_trajectory(traj)
    if save_trace:
        console.print(f"trace picture: {write_trace(traj, store, save_trace)}")
    if save_json:
        save_json.parent.mkdir(parents=True, exist_ok=True)
        save_json.write_text(json.dumps(traj.model_dump(mode="json"), indent=1))
        console.print(f"trajectory JSON: {save_json}")


@app.command()
def view(
    trace: Path = typer.Argument(..., exists=True, dir_okay=False, help="trajectory JSON (ask --save-json, eval --traces)"),
    out: Optional[Path] = typer.Option(None, help="HTML page to write (default: TRACE with .html)"),
    png: Optional[Path] = typer.Option(None, help="also write a PNG picture (default: TRACE with .png)"),
    images: Optional[Path] = typer.Option(None, help="image store holding the trace's sha256 references (default: the user's store)"),
) -> None:
    """A self-contained HTML page (and a PNG) of one trajectory: boxes on the image, crops, thoughts, answer."""
    from .images import ImageStore
    from .viewer import write_view

    page = write_view(trace, out or trace.with_suffix(".html"), ImageStore(images), png or trace.with_suffix(".png"))
    console.print(f"page: {page}\npicture: {png or trace.with_suffix('.png')}")


@app.command()
def zoomworld(
    out_dir: Path = typer.Argument(..., help="folder for zoomworld.jsonl and images/"),
    n: int = typer.Option(500, "--n", help="rows to write"),
    seed: int = typer.Option(0, help="any seed gives a fresh, valid set"),
    attribute_share: float = typer.Option(0.7, help="share of attribute (zoom-needing) questions"),
) -> None:
    """Write a zoom-world benchmark (V*-style rows with ground-truth boxes)."""
    from .data.zoomworld import generate

    path = generate(out_dir, n, seed, attribute_share=attribute_share)
    console.print(f"wrote {n} rows to {path}")


@app.command()
def pretrain(
    out: Path = typer.Option(..., help="run folder (resumes from its checkpoint when present)"),
    steps: Optional[int] = typer.Option(None, help="optimizer steps"),
    batch_size: Optional[int] = typer.Option(None),
    seed: Optional[int] = typer.Option(None),
    threads: Optional[int] = typer.Option(None, help="torch threads"),
    config: Optional[Path] = typer.Option(None, exists=True, help="YAML with PretrainConfig fields"),
    export: Optional[Path] = typer.Option(None, help="copy the final model (no optimizer state) here"),
) -> None:
    """Pretrain the tiny model on zoom-world skills: grounding, crop reading, direct answers, tool syntax."""
    import shutil

    from .pretrain.config import PretrainConfig
    from .pretrain.train import run

    overrides = {"out": out, "steps": steps, "batch_size": batch_size, "seed": seed, "threads": threads}
    cfg = PretrainConfig.from_yaml(config, **overrides) if config else PretrainConfig(**{k: v for k, v in overrides.items() if v is not None})
    checkpoint = run(cfg, log=console.print)
    if export:
        shutil.rmtree(export, ignore_errors=True)
        shutil.copytree(checkpoint, export, ignore=shutil.ignore_patterns("trainer_state.pt", "COMPLETE"))
        console.print(f"exported the model to {export}")


@app.command(name="eval")
def evaluate(
    data: Path = typer.Option(..., exists=True, dir_okay=False, help="benchmark JSONL (images relative to its folder)"),
    out: Path = typer.Option(..., help="writes rows.jsonl and summary.json here"),
    mode: str = typer.Option("tool", help="tool | direct | oracle | ground"),
    model: Optional[Path] = typer.Option(None, help="local model folder (default: the embedded model)"),
    seed: int = typer.Option(0),
    samples: int = typer.Option(1, help="repeat over K seeds; report mean ± std"),
    option_order: str = typer.Option("shuffle", help="shuffle | cycle | fixed (DeepEyes' V* eval: fixed, answer always A)"),
    limit: Optional[int] = typer.Option(None, help="first N rows only"),
    concurrency: int = typer.Option(8, help="episodes in flight; the backend batches them"),
    max_turns: int = typer.Option(5),
    max_new_tokens: int = typer.Option(128),
    temperature: float = typer.Option(0.0),
    strict: bool = typer.Option(False, help="stop at the first bad row instead of skipping it"),
    traces: int = typer.Option(0, help="write OUT/traces/<id>.json + .html (viewer) for the first K rows"),
    resume: bool = typer.Option(False, help="keep the rows OUT/rows.jsonl already holds (e.g. after a crash) and run the rest"),
    backend: str = typer.Option("transformers", help=BACKEND_HELP),
    server_url: Optional[str] = typer.Option(None, help=SERVER_URL_HELP),
    served_model: Optional[str] = typer.Option(None, help="the server's model name (--served-model-name)"),
) -> None:
    """Evaluate a model on a V*/HR-Bench/zoom-world JSONL; prints the summary."""
    from rich.progress import Progress

    from .backends import SamplingParams
    from .backends.factory import make_backend
    from .eval.rows import load_rows
    from .eval.runner import EvalConfig, run_eval
    from .graphs import AgentConfig
    from .models import resolve_model_dir

    cfg = EvalConfig(data=data, out=out, mode=mode, seed=seed, samples=samples, option_order=option_order,
                     limit=limit, concurrency=concurrency, strict=strict, traces=traces, resume=resume)
    model_dir = resolve_model_dir(model)
    policy = make_backend(backend, model_dir, server_url=server_url, served_model=served_model,
                          concurrency=concurrency, max_images=max_turns + 1)
    agent = AgentConfig.for_model(model_dir, max_turns=max_turns,
                                  sampling=SamplingParams(max_tokens=max_new_tokens, temperature=temperature, seed=seed))
    n_rows = len(load_rows(data)[0])
    total = min(n_rows, limit or n_rows) * samples
    with Progress(console=console) as bar:
        task = bar.add_task(f"eval {mode}", total=total)
        try:
            summary = run_eval(cfg, policy, agent, progress=lambda: bar.advance(task))
        except ConnectionError as exc:  # the backend went away (e.g. BackendUnavailable naming the server)
            console.print(f"[red]{exc}[/red]\nfinished rows are kept in {out / 'rows.jsonl'}: "
                          "rerun with --resume once the backend is back")
            raise typer.Exit(3) from exc
    console.print_json(json.dumps({k: v for k, v in summary.items() if k != "skipped"}))
    if summary["skipped"]:
        console.print(f"[yellow]skipped {len(summary['skipped'])} rows[/yellow] (reasons in {out / 'summary.json'})")


@app.command()
def train(
    data: Path = typer.Option(..., exists=True, dir_okay=False, help="training rows (zoom-world / V*-style JSONL)"),
    out: Path = typer.Option(..., help="run folder: metrics.jsonl, checkpoint/, curves.png"),
    model: Optional[Path] = typer.Option(None, help="local model folder (default: the embedded model)"),
    steps: Optional[int] = typer.Option(None),
    rollouts_per_prompt: Optional[int] = typer.Option(None, help="GRPO group size"),
    prompts_per_step: Optional[int] = typer.Option(None),
    lr: Optional[float] = typer.Option(None),
    eval_data: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="held-out rows for curves"),
    eval_every: Optional[int] = typer.Option(None),
    eval_limit: Optional[int] = typer.Option(None),
    seed: Optional[int] = typer.Option(None),
    config: Optional[Path] = typer.Option(None, exists=True, help="YAML with TrainConfig fields"),
    resume: bool = typer.Option(False, help="continue from the run folder's last checkpoint"),
    engine: str = typer.Option("local", help="local: GRPO on this machine; openrlhf: an OpenRLHF run (Ray + vLLM + DeepSpeed)"),
    dry_run: bool = typer.Option(False, help="openrlhf: write the dataset and agent settings, print the command, run nothing"),
    nodes: int = typer.Option(1, help="openrlhf: nodes"),
    gpus_per_node: int = typer.Option(8, help="openrlhf: GPUs per node"),
    launcher: str = typer.Option("ray-job", help="openrlhf: ray-job (`ray job submit`) or direct (this node)"),
    ray_address: str = typer.Option("http://127.0.0.1:8265", help="openrlhf: Ray dashboard address for ray-job"),
    rollout_backend: Optional[str] = typer.Option(None, help="local: transformers (the trained model) or vllm (in-process engine, weights synced every step)"),
    concurrency: Optional[int] = typer.Option(None, help="local: episodes in flight during rollouts (default: all of a step)"),
) -> None:
    """RL (GRPO) on trajectories of the agent graph with the DeepEyes reward: on this machine, or on OpenRLHF."""
    from rich.progress import Progress

    from .checkpoint import latest
    from .curves import plot_metrics
    from .rl.config import TrainConfig
    from .rl.trainer import LocalTrainer

    overrides = {"data": data, "out": out, "model": model, "steps": steps, "rollouts_per_prompt": rollouts_per_prompt,
                 "prompts_per_step": prompts_per_step, "lr": lr, "eval_data": eval_data, "eval_every": eval_every,
                 "eval_limit": eval_limit, "seed": seed, "rollout_backend": rollout_backend, "concurrency": concurrency}
    cfg = TrainConfig.from_yaml(config, **overrides) if config else TrainConfig(**{k: v for k, v in overrides.items() if v is not None})
    if engine == "openrlhf":
        from .rl.openrlhf.command import ClusterConfig
        from .rl.openrlhf.launch import prepare_and_launch

        cluster = ClusterConfig(nodes=nodes, gpus_per_node=gpus_per_node, launcher=launcher, ray_address=ray_address)
        raise typer.Exit(prepare_and_launch(cfg, cluster, dry_run=dry_run, echo=typer.echo))
    if engine != "local":
        raise typer.BadParameter(f"unknown engine {engine!r}: local or openrlhf")
    if latest(cfg.out) is not None and not resume:
        raise typer.BadParameter(f"{cfg.out} already holds a checkpoint: pass --resume to continue it, or pick a new --out")
    trainer = LocalTrainer(cfg)
    with Progress(console=console) as bar:
        task = bar.add_task("GRPO", total=cfg.steps, completed=trainer.start_step)
        trainer.run(log=lambda r: console.print(
            f"step {r['step']}: reward {r['reward']:.3f} acc {r['reward/accuracy']:.2f} tool {r['tool_call_rate']:.2f} "
            f"loss {r['loss']:.4f}" + (f" | eval acc {r['eval/accuracy']:.3f} tool {r['eval/tool_call_rate']:.2f}" if "eval/accuracy" in r else "")),
            progress=lambda: bar.advance(task))
    png = plot_metrics(cfg.out / "metrics.jsonl", cfg.out / "curves.png", title="GRPO on the agent graph", keys=[
        "reward", "reward/accuracy", "tool_call_rate", "crops_per_answer", "response_length", "entropy", "kl",
        "eval/accuracy", "eval/tool_call_rate"])
    console.print(f"curves: {png}")


@app.command(name="serve-model")
def serve_model(
    model: Optional[Path] = typer.Option(None, help="local model folder (default: the embedded model)"),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    name: str = typer.Option("deepeyes", help="--served-model-name"),
    max_model_len: int = typer.Option(4096, help="context length (prompt + turns + crops)"),
    max_images: int = typer.Option(6, help="images per prompt: the question's image + one crop per turn"),
    dtype: str = typer.Option("float32"),
    enforce_eager: bool = typer.Option(True, help="skip torch.compile (recommended on CPU)"),
    print_only: bool = typer.Option(False, "--print", help="print the vLLM command instead of running it"),
) -> None:
    """Serve a model folder with vLLM (OpenAI-compatible + token-in/token-out) for --server-url."""
    import shlex
    import subprocess

    from .models import resolve_model_dir
    from .serving import ServeConfig, server_command, server_env

    cfg = ServeConfig(model=resolve_model_dir(model), name=name, host=host, port=port, max_model_len=max_model_len,
                      max_images=max_images, dtype=dtype, enforce_eager=enforce_eager)
    cmd = server_command(cfg)
    if print_only:
        typer.echo(shlex.join(cmd))
        return
    console.print(f"serving {cfg.model} as {name!r} at {cfg.url} (use --server-url {cfg.url})")
    try:
        raise typer.Exit(subprocess.call(cmd, env=server_env(cfg)))
    except KeyboardInterrupt:
        raise typer.Exit(130)


@app.command(name="export-openrlhf")
def export_openrlhf_cmd(
    data: Path = typer.Argument(..., exists=True, dir_okay=False, help="zoom-world / V* / HR-Bench / DeepEyes-style JSONL"),
    out: Path = typer.Argument(..., help="OpenRLHF prompt JSONL to write"),
    order: str = typer.Option("shuffle", help="option order: shuffle, cycle or fixed (as stored)"),
    seed: int = typer.Option(0),
) -> None:
    """Rows → OpenRLHF prompts (prompt, images, label); bad rows and missing images reported by line."""
    from .rl.openrlhf.export import export_openrlhf

    report = export_openrlhf(data, out, order=order, seed=seed)
    for bad in report.skipped:
        console.print(f"[yellow]skipped line {bad['line']}[/]: {bad['reason']}")
    console.print(f"wrote {report.written} rows to {out}" + (f" ({len(report.skipped)} skipped)" if report.skipped else ""))
    if not report.written:
        raise typer.Exit(1)


@app.command(name="select")
def select_rows(
    data: Path = typer.Option(..., exists=True, dir_okay=False, help="candidate rows (JSONL with boxes for the crop test)"),
    out: Path = typer.Option(..., help="writes selected.jsonl, report.json, rows.jsonl"),
    model: Optional[Path] = typer.Option(None, help="the base model to roll out (default: the embedded model)"),
    k: int = typer.Option(8, help="samples per row and condition"),
    min_accuracy: float = typer.Option(0.0, help="difficulty window, lower bound (exclusive)"),
    max_accuracy: float = typer.Option(1.0, help="difficulty window, upper bound (exclusive)"),
    min_benefit: float = typer.Option(0.25, help="keep when the crop raises accuracy by this much"),
    temperature: float = typer.Option(1.0),
    seed: int = typer.Option(0),
) -> None:
    """Tool-use-oriented data selection: difficulty filter plus the tool-benefit criterion."""
    from .backends import SamplingParams, TransformersBackend
    from .graphs import AgentConfig
    from .models import resolve_model_dir
    from .rl.selection import SelectConfig, select

    model_dir = resolve_model_dir(model)
    backend = TransformersBackend.from_pretrained(model_dir)
    agent = AgentConfig.for_model(model_dir, sampling=SamplingParams(max_tokens=64))
    cfg = SelectConfig(data=data, out=out, k=k, temperature=temperature, min_accuracy=min_accuracy,
                       max_accuracy=max_accuracy, min_benefit=min_benefit, seed=seed)
    report = select(cfg, backend, agent)
    console.print_json(json.dumps({k: v for k, v in report.items() if k != "config"}))


def print_trajectory(traj) -> None:
    obs = iter(traj.observations)
    for i, action in enumerate(traj.actions, 1):
        body = []
        if action.think:
            body.append(f"[bold]think[/bold]: {action.think}")
        if action.tool_call:
            body.append(f"[bold]tool call[/bold]: {json.dumps(action.tool_call)[:300]}")
        if action.answer is not None:
            body.append(f"[bold green]answer[/bold green]: {action.answer}")
        if not body:
            body.append(f"[dim]raw[/dim]: {action.text[:300]!r}")
        if action.format_errors:
            body.append(f"[yellow]format[/yellow]: {'; '.join(action.format_errors)}")
        o = next(obs, None) if action.tool_call else None
        if o is not None and o.image is not None:
            x1, y1, x2, y2 = o.box_original
            body.append(f"[cyan]crop[/cyan]: model box {o.box_model} → original {o.box_original} ({x2 - x1}x{y2 - y1} px)")
        elif o is not None:
            body.append(f"[red]tool error[/red]: {o.error} ({o.reason})")
        console.print(Panel("\n".join(body), title=f"turn {i} · {len(action.token_ids)} tokens · {action.finish_reason}"))
    console.print(
        f"[bold]answer[/bold]: {traj.answer!r}  stop: {traj.stop_reason}  turns: {traj.turns}  "
        f"crops: {traj.crops}  tool errors: {traj.tool_errors}"
    )


def main() -> None:
    """The ``deepeyes-agent`` entry point: the user's mistakes and unavailable services end in one line on
    stderr and an exit code (2 bad input, 3 unavailable backend or judge; see :mod:`deepeyes_agent.errors`)."""
    import sys

    from .errors import exit_code, one_line

    try:
        app()
    except Exception as exc:
        code = exit_code(exc)
        if code is None or _debug:
            raise
        typer.echo(f"error: {one_line(exc)}", err=True)
        sys.exit(code)


if __name__ == "__main__":
    main()
