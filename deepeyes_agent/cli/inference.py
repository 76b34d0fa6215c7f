"""Inference commands: ask, view, zoomworld, eval, serve-model."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.panel import Panel

from ..device import DType
from ..eval.config import EvalConfig
from ..serving import ServeConfig
from ..zoom import CoordinateFrame
from .app import Command, app, console
from .options import (
    BackendOption,
    CompileOption,
    DeviceOption,
    DTypeOption,
    ModelOption,
    RevisionOption,
    ServedModelOption,
    ServerUrlOption,
    config_command,
)


def _tools_help(name: str) -> str:
    from ..tools.settings import ToolSettings

    return ToolSettings.model_fields[name].description


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.command(cls=Command)
def ask(
    image: Path = typer.Argument(..., exists=True, dir_okay=False, metavar="IMAGE", help="image file"),
    question: str = typer.Argument(..., metavar="QUESTION", help="question about the image"),
    option: list[str] = typer.Option(
        [], "--option", "-o", metavar="TEXT", help="an answer option (repeatable: -o A -o B for multiple choice)"
    ),
    model: ModelOption = None,
    revision: RevisionOption = None,
    backend: BackendOption = "transformers",
    server_url: ServerUrlOption = None,
    served_model: ServedModelOption = None,
    max_turns: int = typer.Option(5, help="model turns per episode (DeepEyes: 5)"),
    max_new_tokens: int = typer.Option(256, help="tokens per model turn"),
    temperature: float = typer.Option(0.0, help="0 = greedy"),
    seed: int = typer.Option(0, help="sampling seed"),
    frame: CoordinateFrame | None = typer.Option(
        None, help="frame of the model's boxes (default: from the model family)"
    ),
    deepeyes_parity: bool = typer.Option(False, help="treat boxes as original-image pixels, as DeepEyes did"),
    device: DeviceOption = "auto",
    dtype: DTypeOption = DType.AUTO,
    compile: CompileOption = False,
    tools: str | None = typer.Option(None, help=_tools_help("tools")),
    max_calls_per_turn: int | None = typer.Option(None, min=1, help=_tools_help("max_calls_per_turn")),
    mcp: Path | None = typer.Option(None, help=_tools_help("mcp")),
    save_trace: Path | None = typer.Option(None, help="write a picture of the trajectory (PNG)"),
    save_json: Path | None = typer.Option(None, help="write the trajectory as JSON"),
) -> None:
    """Answer QUESTION about IMAGE, zooming in as the model decides; prints every turn."""
    from ..backends import SamplingParams
    from ..backends.factory import make_backend
    from ..data.zoomworld import looks_like_zoomworld
    from ..device import PlacementConfig
    from ..graphs import AgentConfig, create_visual_agent
    from ..images import ImageStore, load_image
    from ..models import is_embedded, resolve_model_dir
    from ..picture import save_picture
    from ..tools.settings import ToolSettings
    from ..trajectory import Trajectory
    from ..zoom import ZoomConfig

    model_dir = resolve_model_dir(model, revision, progress=True)
    console.print(f"[dim]model: {model_dir}[/dim]")
    if is_embedded(model_dir) and not looks_like_zoomworld(load_image(image)):
        typer.echo(
            f"note: {image} does not look like zoom-world, the only world the embedded demo model knows (coloured "
            "signs with fine textures: 'What pattern is on the <colour> sign?', 'Is the <colour> sign above or below "
            "the <colour> sign?'); for real images pass --model with a Qwen2.5-VL / DeepEyes-7B / Qwen3-VL folder",
            err=True,
        )
    policy = make_backend(
        backend,
        model_dir,
        server_url=server_url,
        served_model=served_model,
        max_images=max_turns + 1,
        placement=PlacementConfig(device=device, dtype=dtype, compile=compile),
    )
    settings = ToolSettings(tools=_csv(tools), max_calls_per_turn=max_calls_per_turn, mcp=mcp)
    config = AgentConfig.for_model(
        model_dir,
        max_turns=max_turns,
        sampling=SamplingParams(max_tokens=max_new_tokens, temperature=temperature, seed=seed),
        **settings.agent_overrides(),
    )
    config.zoom = ZoomConfig(frame=frame or config.zoom.frame, deepeyes_parity=deepeyes_parity)
    store = ImageStore()
    agent = create_visual_agent(policy, config=config, image_store=store)
    traj = Trajectory.from_state(agent.invoke({"image": str(image), "question": question, "options": option or None}))
    print_trajectory(traj)
    if (note := off_options_note(traj.answer, option)) is not None:
        console.print(f"[yellow]{note}[/yellow]")
    if save_trace:
        console.print(f"trace picture: {save_picture(traj, store, save_trace)}")
    if save_json:
        save_json.parent.mkdir(parents=True, exist_ok=True)
        save_json.write_text(json.dumps(traj.model_dump(mode="json"), indent=1))
        console.print(f"trajectory JSON: {save_json}")


@app.command(cls=Command)
def view(
    trace: Path = typer.Argument(
        ..., exists=True, dir_okay=False, metavar="TRACE", help="trajectory JSON (ask --save-json, eval --traces)"
    ),
    out: Path | None = typer.Option(None, help="HTML page to write (default: TRACE with .html)"),
    png: Path | None = typer.Option(None, help="also write a PNG picture (default: TRACE with .png)"),
    images: Path | None = typer.Option(
        None, help="image store holding the trace's sha256 references (default: the user's store)"
    ),
    force: bool = typer.Option(False, "--force", help="overwrite the page and picture if they exist"),
) -> None:
    """A self-contained HTML page (and a PNG) of one trajectory: boxes on the image, crops, thoughts, answer."""
    from ..errors import InputError
    from ..images import ImageStore
    from ..page import write_page

    out, png = out or trace.with_suffix(".html"), png or trace.with_suffix(".png")
    existing = [str(p) for p in (out, png) if p.exists()]
    if existing and not force:
        raise InputError(
            f"{' and '.join(existing)} exist{'s' if len(existing) == 1 else ''}: pass --force to overwrite"
        )
    page = write_page(trace, out, ImageStore(images), png)
    console.print(f"page: {page}\npicture: {png}")


@app.command(cls=Command)
def zoomworld(
    out_dir: Path = typer.Argument(..., metavar="OUT_DIR", help="folder for zoomworld.jsonl and images/"),
    n: int = typer.Option(500, "--n", help="rows to write"),
    seed: int = typer.Option(0, help="any seed gives a fresh, valid set"),
    attribute_share: float = typer.Option(0.7, help="share of attribute (zoom-needing) questions"),
) -> None:
    """Write a zoom-world benchmark (V*-style rows with ground-truth boxes)."""
    from ..data.zoomworld import generate

    path = generate(out_dir, n, seed, attribute_share=attribute_share)
    console.print(f"wrote {n} rows to {path}")


@config_command(app, EvalConfig, name="eval")
def evaluate(
    cfg: EvalConfig,
    model: ModelOption = None,
    revision: RevisionOption = None,
    backend: BackendOption = "transformers",
    server_url: ServerUrlOption = None,
    served_model: ServedModelOption = None,
) -> None:
    """Evaluate a model on benchmark rows through the agent graph; writes rows.jsonl + summary.json, prints the summary."""
    from rich.progress import Progress

    from ..backends import SamplingParams
    from ..backends.factory import make_backend
    from ..datasets import open_dataset
    from ..eval.runner import run_eval
    from ..graphs import AgentConfig
    from ..models import resolve_model_dir

    model_dir = resolve_model_dir(model, revision, progress=True)
    policy = make_backend(
        backend,
        model_dir,
        server_url=server_url,
        served_model=served_model,
        concurrency=cfg.concurrency,
        max_images=cfg.max_turns + 1,
        placement=cfg,
        vllm=cfg.vllm,
    )
    agent = AgentConfig.for_model(
        model_dir,
        max_turns=cfg.max_turns,
        sampling=SamplingParams(max_tokens=cfg.max_new_tokens, temperature=cfg.temperature, seed=cfg.seed),
        **cfg.agent_overrides(),
    )
    n_rows = open_dataset(cfg.data).count()
    with Progress(console=console) as bar:
        rows = n_rows if cfg.limit is None or n_rows is None else min(n_rows, cfg.limit)
        task = bar.add_task(f"eval {cfg.mode}", total=rows * cfg.samples if rows is not None else None)
        try:
            summary = run_eval(cfg, policy, agent, progress=lambda: bar.advance(task))
        except ConnectionError as exc:  # the backend went away (e.g. BackendUnavailable naming the server)
            typer.echo(
                f"error: {exc} — finished rows are kept in {cfg.out / 'rows.jsonl'}: rerun with --resume "
                "once the backend is back",
                err=True,
            )
            raise typer.Exit(3) from exc
    console.print_json(json.dumps({k: v for k, v in summary.items() if k != "skipped"}))
    if summary["skipped"]:
        console.print(
            f"[yellow]skipped {len(summary['skipped'])} rows[/yellow] (reasons in {cfg.out / 'summary.json'})"
        )


@config_command(app, ServeConfig, name="serve-model", skip={"model"})
def serve_model(
    cfg: ServeConfig,
    model: ModelOption = None,
    revision: RevisionOption = None,
    print_only: bool = typer.Option(False, "--print", help="print the vLLM command instead of running it"),
) -> None:
    """Serve a model folder with vLLM (OpenAI-compatible + token-in/token-out) for --server-url."""
    import shlex
    import subprocess

    from ..models import resolve_model_dir
    from ..serving import server_command, server_env

    cfg = cfg.model_copy(update={"model": resolve_model_dir(model, revision, progress=True)})
    cmd = server_command(cfg)
    if print_only:
        typer.echo(shlex.join(cmd))
        return
    console.print(f"serving {cfg.model} as {cfg.name!r} at {cfg.url} (use --server-url {cfg.url})")
    try:
        raise typer.Exit(subprocess.call(cmd, env=server_env(cfg)))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def off_options_note(answer: str | None, options: list[str]) -> str | None:
    """A line for an answer that names none of the options shown (the trajectory keeps it as written)."""
    from ..answer_match import chosen_option

    if not options or answer is None or chosen_option(answer, options) is not None:
        return None
    return f"the answer {answer!r} is none of the options ({', '.join(options)})"


def print_trajectory(traj) -> None:
    """Each model turn in a panel, with what its tool calls returned (in order) under it."""
    from ..trajectory import ActionSegment

    turns: list[tuple] = []
    for seg in traj.segments:
        if isinstance(seg, ActionSegment):
            turns.append((seg, []))
        elif turns:
            turns[-1][1].append(seg)
    for i, (action, observations) in enumerate(turns, 1):
        body = []
        if action.think:
            body.append(f"[bold]think[/bold]: {action.think}")
        for call in action.tool_calls or ([action.tool_call] if action.tool_call else []):
            body.append(f"[bold]tool call[/bold]: {json.dumps(call)[:300]}")
        if action.answer is not None:
            body.append(f"[bold green]answer[/bold green]: {action.answer}")
        if not body:
            body.append(f"[dim]raw[/dim]: {action.text[:300]!r}")
        if action.format_errors:
            body.append(f"[yellow]format[/yellow]: {'; '.join(action.format_errors)}")
        for o in observations:
            body.append(_observation_line(o))
        console.print(
            Panel("\n".join(body), title=f"turn {i} · {len(action.token_ids)} tokens · {action.finish_reason}")
        )
    calls = ", ".join(f"{name} {count}" for name, count in traj.calls_by_tool().items()) or "none"
    console.print(
        f"[bold]answer[/bold]: {traj.answer!r}  stop: {traj.stop_reason}  turns: {traj.turns}  "
        f"crops: {traj.crops}  tool errors: {traj.tool_errors}  calls: {calls}"
    )


def _observation_line(o) -> str:
    took = f" [dim]{o.latency_ms:.0f} ms[/dim]" if o.latency_ms is not None else ""
    if o.error is not None:
        return f"[red]tool error[/red]: {o.error} ({o.reason}){took}"
    if o.box_original is not None:
        x1, y1, x2, y2 = o.box_original
        return f"[cyan]crop[/cyan]: model box {o.box_model} → original {o.box_original} ({x2 - x1}x{y2 - y1} px){took}"
    shown = ["an image"] if o.image is not None else []
    if o.text is not None:
        shown.append(f"text {o.text[:200]!r}")
    return f"[cyan]{o.tool}[/cyan]: {' and '.join(shown)}{took}"
