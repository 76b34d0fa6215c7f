"""``deepeyes-agent openrlhf train``: export the rows, write the agent settings, build the
``train_ppo_ray`` command, then print it (dry run) or run it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from deepeyes_agent.errors import InputError
from deepeyes_agent.graphs.state import AgentConfig
from deepeyes_agent.models import resolve_model_dir

from ..config import TrainConfig
from .command import ClusterConfig, launch_command, render
from .export import export_openrlhf
from .settings import AgentSettings


def prepare(cfg: TrainConfig, cluster: ClusterConfig) -> tuple[list[str], Path, Path]:
    """Writes ``OUT/openrlhf/prompts.jsonl`` (or ``prompts.parquet``: a DeepEyes-47k parquet's usable rows, columns
    intact) and ``OUT/openrlhf/agent_settings.json``; returns the command."""
    folder = (cfg.out / "openrlhf").resolve()
    model = resolve_model_dir(cfg.model).resolve()
    report = export_openrlhf(cfg.data, folder / "prompts.jsonl", seed=cfg.seed)
    dataset = report.path
    bad = [s for s in report.skipped if "no tool env" not in s["reason"]]  # rows DeepEyes trains without the tool
    if bad:
        lines = ", ".join(f"row {s['line']}: {s['reason']}" for s in bad[:5])
        raise InputError(f"{cfg.data}: {len(bad)} bad rows ({lines}{' …' if len(bad) > 5 else ''})")
    if not report.written:
        raise InputError(f"{cfg.data}: no rows to train on ({len(report.skipped)} skipped)")
    agent = AgentConfig.for_model(model, max_turns=cfg.max_turns, **cfg.agent_overrides())
    settings = AgentSettings(
        agent=agent, reward=cfg.reward, judge=cfg.judge, judge_url=cfg.judge_url, judge_model=cfg.judge_model
    ).write(folder / "agent_settings.json")
    command = launch_command(
        cfg.model_copy(update={"out": cfg.out.resolve()}),
        cluster,
        model=model,
        dataset=dataset,
        settings=settings,
        label_key=report.label_key,
    )
    return command, dataset, settings


def prepare_and_launch(cfg: TrainConfig, cluster: ClusterConfig, *, dry_run: bool, echo=print) -> int:
    command, dataset, settings = prepare(cfg, cluster)
    echo(f"# dataset: {dataset}\n# agent settings: {settings}")
    echo(render(command))
    if dry_run:
        return 0
    return subprocess.call(command)
