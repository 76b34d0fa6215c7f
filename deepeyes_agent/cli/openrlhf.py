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
