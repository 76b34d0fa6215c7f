"""``deepeyes-agent openrlhf train``: export the rows, write the agent settings, build the
``train_ppo_ray`` command, then print it (dry run) or run it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from deepeyes_agent.errors import InputError
from deepeyes_agent.graphs.state import AgentConfig
from deepeyes_agent.models import resolve_model_dir
from deepeyes_agent.models.hub import is_hub_id
from deepeyes_agent.models.vllm_folder import vllm_model_dir
from deepeyes_agent.tools import Toolbox

from ..config import TrainConfig
from .command import ClusterConfig, launch_command, render
from .export import export_openrlhf
from .settings import AgentSettings


@dataclass
class Prepared:
    """What an OpenRLHF run reads, written under ``OUT/openrlhf``."""

    model: Path | str
    """what OpenRLHF loads: a hub id as it is (every node fetches it: OpenRLHF and vLLM read hub ids; with a pinned
    ``revision``, the local snapshot), a real Qwen folder as it is; the embedded models' folder with the stock Qwen
    processor its vLLM engine and ``AutoProcessor`` need (:func:`~deepeyes_agent.models.vllm_folder.vllm_model_dir`)"""
    folder: Path
    """the same model on this machine (a local run — ``openrlhf rollout`` — loads this)"""
    dataset: Path
    label_key: str
    settings: Path
    agent: AgentConfig
    toolbox: Toolbox
    """the tools, resolved here first: one that does not import stops the launch before any engine starts"""


def prepare_inputs(cfg: TrainConfig, *, trajectories: bool = False) -> Prepared:
    """Writes ``OUT/openrlhf/prompts.jsonl`` (or ``prompts.parquet``: a DeepEyes-47k parquet's usable rows, columns
    intact) and ``OUT/openrlhf/agent_settings.json``."""
    folder = (cfg.out / "openrlhf").resolve()
    model = resolve_model_dir(cfg.model, cfg.revision, progress=True).resolve()  # a hub id: fetched here, once
    agent = AgentConfig.for_model(model, max_turns=cfg.max_turns, **cfg.agent_overrides())
    toolbox = Toolbox.for_config(agent)
    report = export_openrlhf(cfg.data, folder / "prompts.jsonl", seed=cfg.seed)
    bad = [s for s in report.skipped if "no tool env" not in s["reason"]]  # rows DeepEyes trains without the tool
    if bad:
        lines = ", ".join(f"row {s['line']}: {s['reason']}" for s in bad[:5])
        raise InputError(f"{cfg.data}: {len(bad)} bad rows ({lines}{' …' if len(bad) > 5 else ''})")
    if not report.written:
        raise InputError(f"{cfg.data}: no rows to train on ({len(report.skipped)} skipped)")
    settings = AgentSettings(
        agent=agent,
        reward=cfg.reward,
        judge=cfg.judge,
        judge_url=cfg.judge_url,
        judge_model=cfg.judge_model,
        trajectories=trajectories,
    ).write(folder / "agent_settings.json")
    local = vllm_model_dir(model)
    # a hub id goes to OpenRLHF as it is (each node fetches it) unless pinned or its processor had to be swapped
    by_id = cfg.model is not None and is_hub_id(str(cfg.model)) and cfg.revision is None and local == model
    return Prepared(str(cfg.model) if by_id else local, local, report.path, report.label_key, settings, agent, toolbox)


def prepare(cfg: TrainConfig, cluster: ClusterConfig) -> tuple[list[str], Path, Path]:
    """The inputs (:func:`prepare_inputs`) and the ``train_ppo_ray`` command."""
    run = prepare_inputs(cfg)
    command = launch_command(
        cfg.model_copy(update={"out": cfg.out.resolve()}),
        cluster,
        model=run.model,
        dataset=run.dataset,
        settings=run.settings,
        label_key=run.label_key,
    )
    return command, run.dataset, run.settings


def prepare_and_launch(cfg: TrainConfig, cluster: ClusterConfig, *, dry_run: bool, echo=print) -> int:
    command, dataset, settings = prepare(cfg, cluster)
    echo(f"# dataset: {dataset}\n# agent settings: {settings}")
    echo(render(command))
    if dry_run:
        return 0
    return subprocess.call(command)
