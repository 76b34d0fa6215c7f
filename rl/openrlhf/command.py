"""The OpenRLHF run for a :class:`~deepeyes_agent.rl.config.TrainConfig`: ``openrlhf.cli.train_ppo_ray``
flags (OpenRLHF ≥ 0.11 dotted names) and how it is launched (``ray job submit`` or directly).

The same pydantic config drives the local trainer, so a run moves from one machine to a cluster
without re-stating its hyper-parameters. GRPO as in DeepEyes: ``group_norm`` advantages, ε 0.2/0.2,
dual clip 3, token-mean loss, no critic, KL coefficient from the config (DeepEyes: 0).
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Literal

from pydantic import Field

from deepeyes_agent.configs import RunConfig
from deepeyes_agent.errors import InputError

from ..config import TrainConfig
from . import AGENT_FILE, ENV_VAR


class ClusterConfig(RunConfig):
    """Where and how OpenRLHF runs (DeepEyes-7B: 1 node × 8 GPUs, colocated, micro-batches 1–2)."""

    nodes: int = Field(1, ge=1, description="nodes of the Ray cluster")
    gpus_per_node: int = Field(8, ge=1, description="GPUs per node")
    colocate: bool = Field(True, description="actor, reference and vLLM share the GPUs (sleep mode between phases)")
    zero_stage: int = Field(3, description="DeepSpeed ZeRO stage")
    train_micro_batch: int = Field(1, ge=1, description="per GPU (DeepEyes 7B: 1 on a single node)")
    rollout_micro_batch: int = Field(2, ge=1, description="per GPU, log-prob passes")
    save_steps: int = Field(8, description="steps between OpenRLHF checkpoints")
    launcher: Literal["ray-job", "direct"] = Field(
        "ray-job", description="`ray job submit` to an existing cluster, or run on this node"
    )
    ray_address: str = Field("http://127.0.0.1:8265", description="the Ray dashboard (ray-job)")
    working_dir: Path | None = Field(None, description="uploaded with the job (ray-job only)")


def images_per_prompt(cfg: TrainConfig) -> int:
    """``--data.max_images_per_prompt``: the first image plus one crop per further turn (vLLM's per-prompt limit)."""
    return 1 + cfg.max_turns


def train_args(
    cfg: TrainConfig, cluster: ClusterConfig, *, model: Path | str, dataset: Path, label_key: str = "label"
) -> list[str]:
    """``train_ppo_ray`` arguments. One optimizer update per step (train batch = all rollouts of a step)."""
    gpus = cluster.nodes * cluster.gpus_per_node
    rollouts = cfg.prompts_per_step * cfg.rollouts_per_prompt
    if rollouts // cluster.rollout_micro_batch < gpus:  # OpenRLHF asserts the same after parsing
        raise InputError(
            f"{cfg.prompts_per_step} prompts × {cfg.rollouts_per_prompt} rollouts in micro-batches of "
            f"{cluster.rollout_micro_batch} leave some of the {gpus} actor GPUs without a batch: "
            "raise prompts_per_step or lower the GPU count"
        )
    args = {
        "--actor.model_name_or_path": model,
        "--actor.num_nodes": cluster.nodes,
        "--actor.num_gpus_per_node": cluster.gpus_per_node,
        "--ref.num_nodes": cluster.nodes,
        "--ref.num_gpus_per_node": cluster.gpus_per_node,
        "--vllm.num_engines": gpus // cfg.vllm.tensor_parallel_size,
        "--vllm.tensor_parallel_size": cfg.vllm.tensor_parallel_size,
        "--vllm.gpu_memory_utilization": cfg.vllm.gpu_memory_utilization,
        "--train.agent_func_path": AGENT_FILE,
        "--data.prompt_dataset": dataset,
        "--data.input_key": "prompt",
        "--data.label_key": label_key,
        "--data.image_key": "images",
        "--data.max_images_per_prompt": images_per_prompt(cfg),
        "--data.max_len": cfg.max_length,
        "--rollout.max_new_tokens": cfg.max_new_tokens,
        "--rollout.n_samples_per_prompt": cfg.rollouts_per_prompt,
        "--rollout.batch_size": cfg.prompts_per_step,
        "--train.batch_size": cfg.prompts_per_step * cfg.rollouts_per_prompt,
        "--rollout.micro_batch_size": cluster.rollout_micro_batch,
        "--train.micro_batch_size": cluster.train_micro_batch,
        "--rollout.temperature": cfg.temperature,
        "--rollout.top_p": cfg.top_p,
        "--algo.advantage.estimator": "group_norm",
        "--actor.eps_clip_low_high": [cfg.grpo.clip_low, cfg.grpo.clip_high],
        "--algo.kl.init_coef": cfg.grpo.kl_coef,
        "--actor.loss_agg_mode": "token-mean",
        "--actor.adam.lr": cfg.lr,
        "--actor.adam.weight_decay": cfg.weight_decay,
        "--actor.lr_scheduler": "constant",
        "--actor.lr_warmup_ratio": 0.0,
        "--actor.max_norm": cfg.grad_clip,
        "--ds.zero_stage": cluster.zero_stage,
        "--ds.param_dtype": "bf16",
        "--train.seed": cfg.seed,
        "--train.num_episodes": 1,
        "--train.max_epochs": 1,
        "--ckpt.output_dir": cfg.out / "openrlhf" / "model",
        "--ckpt.path": cfg.out / "openrlhf" / "checkpoints",
        "--ckpt.save_steps": cluster.save_steps,
        "--ckpt.save_hf": True,
        "--logger.tensorboard_dir": cfg.out / "openrlhf" / "tensorboard",
    }
    if cfg.grpo.dual_clip > 1:
        args["--actor.dual_clip"] = cfg.grpo.dual_clip
    if cfg.grpo.kl_coef > 0:
        args["--algo.kl.use_loss"] = True
        args["--algo.kl.estimator"] = "k3"
    if cluster.colocate:
        args.update({"--train.colocate_all": True, "--vllm.enable_sleep": True, "--ds.enable_sleep": True})
    if cfg.lora.enabled:  # OpenRLHF wraps the actor with peft itself; its list matches module names by suffix
        args.update(
            {
                "--ds.lora.rank": cfg.lora.rank,
                "--ds.lora.alpha": round(cfg.lora.alpha or 2 * cfg.lora.rank),
                "--ds.lora.dropout": cfg.lora.dropout,
                "--ds.lora.target_modules": list(cfg.lora.target_modules),
            }
        )
    if cfg.gradient_checkpointing is not False:  # default on: the models OpenRLHF trains are real-size
        args["--actor.gradient_checkpointing_enable"] = True
    out: list[str] = []
    for flag, value in args.items():
        if value is True:
            out.append(flag)
        elif isinstance(value, list):
            out += [flag, *map(str, value)]
        else:
            out += [flag, str(value)]
    return out


def launch_command(
    cfg: TrainConfig,
    cluster: ClusterConfig,
    *,
    model: Path | str,
    dataset: Path,
    settings: Path,
    label_key: str = "label",
) -> list[str]:
    """The whole command line: the agent settings travel as an environment variable (Ray runtime env)."""
    module = [
        "python3",
        "-m",
        "openrlhf.cli.train_ppo_ray",
        *train_args(cfg, cluster, model=model, dataset=dataset, label_key=label_key),
    ]
    if cluster.launcher == "direct":
        return ["env", f"{ENV_VAR}={settings}", sys.executable, *module[1:]]
    runtime = {"env_vars": {ENV_VAR: str(settings)}}
    if cluster.working_dir:
        runtime["working_dir"] = str(cluster.working_dir)
    return [
        "ray",
        "job",
        "submit",
        "--address",
        cluster.ray_address,
        "--runtime-env-json",
        json.dumps(runtime),
        "--",
        *module,
    ]


def render(command: list[str]) -> str:
    """A copy-pasteable shell command, one flag (with its values) per line."""
    lines: list[list[str]] = [[]]
    for token in command:
        if token.startswith("--") and lines[-1]:
            lines.append([])
        lines[-1].append(token)
    return " \\\n    ".join(shlex.join(line) for line in lines)
