"""LoRA adapters on the language model (peft), what TRL's ``peft_config`` and OpenRLHF's ``--ds.lora.*`` train.

The adapters are injected into the model in place (``peft.inject_adapter_in_model``), so the model keeps its own
class and forward — the training forward, generation and the rollout logprobs are unchanged code. Only the
adapters are trained, in float32; the base weights stay frozen in the compute dtype (bfloat16 on a GPU), so a 7B
trains on one GPU. The vision tower has linear layers of the same names (``gate_proj`` …): the adapters go on the
language model's layers only, matched by a regular expression.

A checkpoint holds the merged model (the base with ``B·A·α/r`` added: what ``eval``, ``ask`` and vLLM load) and
the adapter in peft's layout (``adapter/adapter_model.safetensors`` + ``adapter_config.json``, loadable with
``peft.PeftModel.from_pretrained``); a resumed run starts from the base model and the saved adapter, exactly.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .config import LoraConfig

ADAPTER_DIR = "adapter"


def add_adapters(
    model: torch.nn.Module, cfg: LoraConfig, adapter: Path | None = None, seed: int = 0
) -> torch.nn.Module:
    """Inject float32 adapters into ``model`` in place (their random half drawn from ``seed``: a run is reproducible)
    and freeze everything else; with ``adapter`` (a checkpoint's adapter folder), load its weights."""
    from peft import inject_adapter_in_model

    from deepeyes_agent.errors import InputError

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            inject_adapter_in_model(cfg.peft_config(), model)
        except ValueError as exc:  # peft: no module matches
            raise InputError(f"--lora-target-modules {cfg.target_modules}: {exc}") from exc
    for name, param in model.named_parameters():
        param.requires_grad = "lora_" in name
        if param.requires_grad:
            param.data = param.data.float()
    if not any(p.requires_grad for p in model.parameters()):
        raise InputError(f"--lora-target-modules {cfg.target_modules}: no layer of the language model matches")
    if adapter is not None:
        load_adapter(model, adapter)
    return model


def _lora_layers(model: torch.nn.Module):
    from peft.tuners.lora import LoraLayer

    return [(name, module) for name, module in model.named_modules() if isinstance(module, LoraLayer)]


def has_adapters(model: torch.nn.Module) -> bool:
    return bool(_lora_layers(model))


def adapter_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The adapters' weights under peft's saved names (``base_model.model.<path>.lora_A.weight``)."""
    return {
        "base_model.model." + name.replace(".default.", "."): p.detach().cpu().contiguous()
        for name, p in model.named_parameters()
        if "lora_" in name
    }


def load_adapter(model: torch.nn.Module, folder: Path) -> None:
    from safetensors.torch import load_file

    saved = load_file(str(Path(folder) / "adapter_model.safetensors"))
    params = dict(model.named_parameters())
    for key, value in saved.items():
        name = key.removeprefix("base_model.model.").replace(".lora_A.", ".lora_A.default.")
        name = name.replace(".lora_B.", ".lora_B.default.")
        if name not in params:
            raise ValueError(f"{folder}: adapter weight {key} matches no layer of the model")
        with torch.no_grad():
            params[name].copy_(value)


def save_adapter(model: torch.nn.Module, cfg: LoraConfig, folder: Path, base_model: str | Path) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file(adapter_state_dict(model), str(folder / "adapter_model.safetensors"))
    config = cfg.peft_config()
    config.base_model_name_or_path = str(base_model)
    config.save_pretrained(str(folder))  # adapter_config.json


@torch.no_grad()
def merged_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights with every adapter merged in, under the plain model's names (no ``base_layer``, no
    ``lora_``), in the base weights' dtype: what a model folder and vLLM's weight reload take."""
    deltas = {}
    for name, layer in _lora_layers(model):
        base = layer.get_base_layer()
        deltas[f"{name}.base_layer.weight"] = layer.get_delta_weight("default").to(base.weight.dtype)
    merged = {}
    for name, tensor in model.state_dict().items():
        if "lora_" in name:
            continue
        if name in deltas:
            tensor = tensor + deltas[name]
        merged[name.replace(".base_layer.", ".")] = tensor
    return merged


class adapters_disabled:
    """``with adapters_disabled(model):`` the base model (LoRA's reference policy, no copy of the weights)."""

    def __init__(self, model: torch.nn.Module):
        self.layers = [layer for _, layer in _lora_layers(model)]

    def __enter__(self):
        for layer in self.layers:
            layer.enable_adapters(False)

    def __exit__(self, *exc):
        for layer in self.layers:
            layer.enable_adapters(True)
