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

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Thinking with images: a VLM that zooms into its own image.")
console = Console()


@app.callback()
def _main() -> None:
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
) -> None:
    """Answer QUESTION about IMAGE, zooming in as the model decides; prints every turn."""
    from .backends import SamplingParams, TransformersBackend
    from .graphs import AgentConfig, create_visual_agent
    from .images import ImageStore
    from .models import default_model_dir
    from .trace import save_trace as write_trace
    from .trajectory import Trajectory
    from .zoom import ZoomConfig, frame_for_model_type

    model_dir = model or default_model_dir()
    console.print(f"[dim]model: {model_dir}[/dim]")
    backend = TransformersBackend.from_pretrained(model_dir)
    store = ImageStore()
    config = AgentConfig(
        max_turns=max_turns,
        sampling=SamplingParams(max_tokens=max_new_tokens, temperature=temperature, seed=seed),
        zoom=ZoomConfig(frame=frame or frame_for_model_type(backend.model.config.model_type), deepeyes_parity=deepeyes_parity),
    )
    agent = create_visual_agent(backend, config=config, store=store)
    result = agent.invoke({"image": str(image), "question": question, "options": option or None})
    traj = Trajectory.model_validate(result["trajectory"])
    print_trajectory(traj)
    if save_trace:
        console.print(f"trace picture: {write_trace(traj, store, save_trace)}")
    if save_json:
        save_json.parent.mkdir(parents=True, exist_ok=True)
        save_json.write_text(json.dumps(traj.model_dump(mode="json"), indent=1))
        console.print(f"trajectory JSON: {save_json}")


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


if __name__ == "__main__":
    app()
