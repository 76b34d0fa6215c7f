"""Everything a local RL run is built from, before its first step: the policy (on its device, in its precision, with
LoRA adapters when asked), the rollout engine, the optimizer (restored when resuming), the KL reference, the judge,
the rows. :class:`~deepeyes_agent.rl.trainer.LocalTrainer` takes them from :func:`build` and keeps only the loop.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from deepeyes_agent.backends import SamplingParams
from deepeyes_agent.checkpoint import latest
from deepeyes_agent.datasets import load_rows
from deepeyes_agent.device import dtype_name
from deepeyes_agent.errors import InputError
from deepeyes_agent.graphs import AgentConfig
from deepeyes_agent.judges import Judge, make_judge
from deepeyes_agent.models import resolve_model_dir
from deepeyes_agent.precision import PrecisionPolicy
from deepeyes_agent.rows import EvalRow

from .config import TrainConfig
from .lora import has_adapters
from .policy import adopt_policy, load_policy, make_optimizer, prepare_for_training, reference_model


@dataclass
class Run:
    """What a run is built from (see the module docstring)."""

    model_dir: Path
    backend: object  # the trained model's backend (transformers)
    rollout_backend: object  # it, or an engine that gets the weights after every step
    precision: PrecisionPolicy
    trained: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    reference: torch.nn.Module | None  # the KL reference (None: no KL, or LoRA's base with the adapters off)
    agent_config: AgentConfig
    judge: Judge
    rows: list[EvalRow]
    skipped: list[dict]
    start_step: int
    peft_config: object | None  # the LoRA adapters' peft.LoraConfig (None: every weight is trained)


def build(cfg: TrainConfig, backend=None, rollout_backend=None, peft_config=None) -> Run:
    """The run's parts. ``backend``: a transformers backend holding the model to train (default: loaded from
    ``cfg.model``); ``rollout_backend``: where episodes run (default: the trained model itself, or a vLLM engine
    with ``cfg.rollout_backend``); ``peft_config``: a ``peft.LoraConfig`` (default: ``cfg.lora``'s, when its rank is
    above 0)."""
    if backend is not None and getattr(backend, "model", None) is None:
        raise TypeError(
            "RL needs a token-level backend with a trainable model (transformers); a chat model "
            "has no token ids or logprobs to train on"
        )
    torch.set_num_threads(cfg.threads)
    model_dir = resolve_model_dir(cfg.model, cfg.revision, progress=True)
    resume = latest(cfg.out)
    peft_config = peft_config or (cfg.lora.peft_config() if cfg.lora.enabled else None)
    loaded_here = backend is None
    if backend is None:
        backend, precision = load_policy(cfg, model_dir, resume, peft_config)
    else:
        precision = adopt_policy(cfg, backend, resume, peft_config)
    if (warning := precision.warning()) is not None:
        warnings.warn(warning, stacklevel=3)
    model = backend.model
    trained = prepare_for_training(model, cfg)
    if getattr(backend, "autocast", "absent") is None:  # rollouts on the trained model: in the compute dtype
        backend.autocast = precision.rollout_autocast
    if rollout_backend is None:
        rollout_backend = backend
        if cfg.rollout_backend == "vllm":
            rollout_backend = vllm_engine(cfg, model_dir, resume, precision, peft_config)
    optimizer = make_optimizer(cfg, trained, precision.device)
    start_step = 0
    if resume is not None:
        state = torch.load(resume / "trainer_state.pt", weights_only=True, map_location=precision.device)
        optimizer.load_state_dict(state["optimizer"])
        if precision.scaling and "grad_scaler" in state:
            precision.scaler.load_state_dict(state["grad_scaler"])
        start_step = state["step"]
    reference = None
    if cfg.grpo.kl_coef > 0 and not has_adapters(model):
        reference = reference_model(model, precision, model_dir if loaded_here else None)
    agent_config = AgentConfig.for_model(
        model_dir,
        model.config.model_type,
        max_turns=cfg.max_turns,
        sampling=SamplingParams(max_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p),
        **cfg.agent_overrides(),
    )
    rows, skipped = usable_rows(cfg)
    return Run(
        model_dir=model_dir,
        backend=backend,
        rollout_backend=rollout_backend,
        precision=precision,
        trained=trained,
        optimizer=optimizer,
        reference=reference,
        agent_config=agent_config,
        judge=make_judge(cfg.judge, cfg.judge_url, cfg.judge_model),
        rows=rows,
        skipped=skipped,
        start_step=start_step,
        peft_config=peft_config,
    )


def vllm_engine(cfg: TrainConfig, model_dir: Path, resume: Path | None, precision: PrecisionPolicy, peft_config):
    """An in-process vLLM engine for the rollouts, on the trainer's GPU (asleep during the update): with LoRA it
    serves the base model plus the adapter (``enable_lora``), else the latest weights."""
    from deepeyes_agent.backends.vllm_backend import VLLMBackend, lora_rank_for_vllm

    lora = {"enable_lora": True, "max_lora_rank": lora_rank_for_vllm(peft_config.r)} if peft_config else {}
    return VLLMBackend(
        model_dir if peft_config else resume or model_dir,
        dtype="auto" if precision.device.type != "cuda" else dtype_name(precision.compute),
        max_images=cfg.max_turns + 1,
        seed=cfg.seed,
        engine=cfg.vllm,
        sleep_mode=precision.device.type == "cuda",
        **lora,
    )


def usable_rows(cfg: TrainConfig) -> tuple[list, list[dict]]:
    """The rows this trainer can learn from, and the skipped ones with reasons. Rows without the tool env
    (DeepEyes-47k's ThinkLite math file) are skipped: DeepEyes trains them single-turn without the tool prompt,
    judged on ``\\boxed{}`` — not what this graph runs. Free-form answers need a judge that can read them."""
    rows, skipped = load_rows(cfg.data)
    tool_rows = []
    for row in rows:
        if row.tool:
            tool_rows.append(row)
        else:
            skipped.append(
                {
                    "line": row.line,
                    "reason": "no tool env (env_name): trained without the tool by DeepEyes, not by this graph",
                }
            )
    free_form = [r for r in tool_rows if r.options is None]
    if free_form and cfg.judge == "option":
        example = free_form[0]
        raise InputError(
            f"{cfg.data}: {len(free_form)} rows have free-form answers (e.g. row {example.line}: "
            f"{example.truth_text[:80]!r}), which the option judge cannot grade: set judge: llm with judge_url "
            "(DeepEyes used Qwen2.5-72B), or judge: exact if the answers are single words"
        )
    if not tool_rows:
        raise InputError(f"{cfg.data}: no usable rows ({len(skipped)} skipped, e.g. {skipped[:1]})")
    return tool_rows, skipped
