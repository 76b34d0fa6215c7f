"""The trained policy of a local RL run: its model on the run's device, in the run's precision, with LoRA adapters
when asked, gradient checkpointing for real-size models, and the optimizer over what is trained.

Everything a step touches lives on the model's device; this module decides where that is (``TrainConfig.device``,
``dtype``, ``precision``, ``lora``), once, and the trainer reads it from here.
"""

from __future__ import annotations

from pathlib import Path

import torch

from deepeyes_agent.backends import TransformersBackend
from deepeyes_agent.device import Placement, resolve, torch_dtype
from deepeyes_agent.errors import InputError
from deepeyes_agent.precision import PrecisionPolicy

from .config import TrainConfig
from .lora import ADAPTER_DIR, add_adapters

REAL_SIZE = 100_000_000  # parameters from which gradient checkpointing is on by default


def load_policy(
    cfg: TrainConfig, model_dir: Path, resume: Path | None, peft_config=None
) -> tuple[TransformersBackend, PrecisionPolicy]:
    """The policy's backend, loaded where the config says: full fine-tune weights in the trained dtype (float32 with
    mixed precision) from the last checkpoint when resuming; with LoRA (``peft_config``, a ``peft.LoraConfig``) the
    base model in the compute dtype and the adapters (the checkpoint's, when resuming) in float32."""
    compute = resolve(cfg.device, cfg.dtype, model_dir=model_dir, compile=cfg.compile)
    policy = PrecisionPolicy(cfg.precision, compute.device, compute.dtype)
    check_training_dtype(policy)
    if peft_config is not None:
        placement = Placement(compute.device, policy.frozen, compute.compile)
        backend = TransformersBackend.from_pretrained(model_dir, placement=placement)  # refuses what cannot fit
        add_adapters(backend.model, peft_config, resume / ADAPTER_DIR if resume else None, seed=cfg.seed)
    else:
        placement = Placement(compute.device, policy.trained, compute.compile)
        backend = TransformersBackend.from_pretrained(resume or model_dir, placement=placement)
    return backend, policy


def adopt_policy(cfg: TrainConfig, backend, resume: Path | None, peft_config=None) -> PrecisionPolicy:
    """A backend the caller built: its model stays where it is; the compute dtype comes from the config (``auto``:
    the model's own dtype); LoRA adapters are injected in place when asked. With ``precision mixed`` the trained
    weights become float32 master weights whatever dtype the caller loaded them in (a bfloat16 model would
    otherwise train as pure bfloat16, a float16 one fail in the loss scaler); the frozen base of LoRA stays as it is."""
    model = backend.model
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype if cfg.dtype.value == "auto" else torch_dtype(cfg.dtype.value)
    policy = PrecisionPolicy(cfg.precision, device, dtype)
    check_training_dtype(policy)
    if peft_config is not None:
        add_adapters(model, peft_config, resume / ADAPTER_DIR if resume else None, seed=cfg.seed)
    elif policy.trained is torch.float32 and next(model.parameters()).dtype is not torch.float32:
        model.float()
    return policy


def check_training_dtype(policy: PrecisionPolicy) -> None:
    if policy.compute is torch.float16 and policy.trained is torch.float16:
        raise InputError(
            "--dtype float16 with --precision pure: float16 weights under AdamW overflow and underflow; use "
            "--precision mixed (float32 weights, float16 compute with loss scaling) or --dtype bfloat16"
        )


def prepare_for_training(model: torch.nn.Module, cfg: TrainConfig) -> list[torch.nn.Parameter]:
    """Gradient checkpointing (default: on from 100M parameters) and the list of trained parameters."""
    size = sum(p.numel() for p in model.parameters())
    checkpointing = cfg.gradient_checkpointing if cfg.gradient_checkpointing is not None else size >= REAL_SIZE
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    trained = [p for p in model.parameters() if p.requires_grad]
    if not trained:
        raise InputError("the model has no trainable parameters")
    return trained


def make_optimizer(cfg: TrainConfig, params: list[torch.nn.Parameter], device: torch.device):
    """AdamW; on CUDA torch's fused kernel (one launch for all parameters: no foreach temporaries the size of the
    trained weights — 14 GiB for the 3B)."""
    if cfg.optimizer == "adamw_8bit":
        if device.type != "cuda":
            raise InputError("--optimizer adamw_8bit: bitsandbytes' 8-bit AdamW runs on CUDA GPUs only; use adamw")
        try:
            import bitsandbytes as bnb
        except ImportError as exc:
            raise InputError("--optimizer adamw_8bit needs bitsandbytes: pip install bitsandbytes") from exc
        return bnb.optim.AdamW8bit(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=device.type == "cuda")


def reference_model(model: torch.nn.Module, policy: PrecisionPolicy, model_dir: Path | None):
    """The frozen KL reference in the compute dtype (not a float32 copy of the master weights: half the memory): the
    starting model, loaded from its folder (a resumed run's reference is still where the run began), or a copy of
    the caller's model."""
    if model_dir is not None:
        from deepeyes_agent.backends.transformers_backend import load_model

        reference = load_model(model_dir, Placement(policy.device, policy.compute))
    else:
        import copy

        reference = copy.deepcopy(model).to(policy.compute)
    return reference.eval().requires_grad_(False)


def release_memory(optimizer, device: torch.device) -> None:
    """After an update: gradients freed (not held through the next rollouts and the engine's wake-up) and, on a GPU,
    the allocator's cached blocks returned for the rollout engine."""
    optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.empty_cache()


def memory_report(device: torch.device) -> dict:
    """Peak accelerator memory so far (GiB), for the step's metrics; empty on the CPU."""
    if device.type != "cuda":
        return {}
    return {"peak_memory_gib": torch.cuda.max_memory_allocated(device) / 1024**3}
