"""LoRA adapters on the language model (peft), what TRL's ``peft_config`` and OpenRLHF's ``--ds.lora.*`` train.

The adapters are injected into the model in place (``peft.inject_adapter_in_model``), so the model keeps its own
class and forward — the training forward, generation and the rollout logprobs are unchanged code. Only the
adapters are trained, in float32; the base weights stay frozen in the compute dtype (bfloat16 on a GPU), so a 7B
trains on one GPU. The vision tower has linear layers of the same names (``gate_proj`` …): the adapters go on the
language model's layers only, matched by a regular expression.

A checkpoint holds the merged model (the base with ``B·A·α/r`` added: what ``eval``, ``ask`` and vLLM load) and
the adapter in peft's layout (``adapter/adapter_model.safetensors`` + ``adapter_config.json``, loadable with
``peft.PeftModel.from_pretrained``); a resumed run starts from the base model and the saved adapter, exactly.

Merging, a layer at a time: each merged weight is computed in float32 (``base + B·A·α/r``) and cast to the base's
dtype once, then written where it goes — a safetensors shard on disk — before the next; no second copy of the model
ever exists. In bfloat16 that final cast keeps only deltas larger than half a bfloat16 step of the weight (~6e-5 near
|w| ≈ 0.02): early in a run most of an adapter's update does not survive the merge. :func:`save_merged` returns the
share of adapted weights the merge changed (logged as ``merged_weights_changed``), and a vLLM rollout engine is
therefore given the adapter itself (vLLM applies it at run time, exactly), never merged weights.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

ADAPTER_DIR = "adapter"
SAVED_PREFIX = "base_model.model."  # peft's saved names are a PeftModel's; this model is the base itself


def add_adapters(model: torch.nn.Module, config, adapter: Path | None = None, seed: int = 0) -> torch.nn.Module:
    """Inject adapters into ``model`` in place (peft's ``inject_adapter_in_model``: only they train; their random
    half drawn from ``seed``, so a run is reproducible), in float32 on any base (peft's ``cast_adapter_dtype``);
    ``config`` is a ``peft.LoraConfig`` or :class:`~deepeyes_agent.rl.config.LoraSettings`. With ``adapter`` (a
    checkpoint's adapter folder), its weights are loaded."""
    from peft import inject_adapter_in_model
    from peft.tuners.tuners_utils import cast_adapter_dtype

    from deepeyes_agent.errors import InputError

    config = config.peft_config() if hasattr(config, "peft_config") else config
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            inject_adapter_in_model(config, model)
        except ValueError as exc:  # peft: no module matches
            raise InputError(f"--lora-target-modules {config.target_modules}: {exc}") from exc
    cast_adapter_dtype(model, "default", autocast_adapter_dtype=True)
    if not any(p.requires_grad for p in model.parameters()):
        raise InputError(f"--lora-target-modules {config.target_modules}: no layer of the language model matches")
    if adapter is not None:
        load_adapter(model, adapter)
    return model


def _lora_layers(model: torch.nn.Module):
    from peft.tuners.lora import LoraLayer

    return [(name, module) for name, module in model.named_modules() if isinstance(module, LoraLayer)]


def has_adapters(model: torch.nn.Module) -> bool:
    return bool(_lora_layers(model))


def load_adapter(model: torch.nn.Module, folder: Path) -> None:
    """An adapter folder in peft's layout into the model's adapters (peft's ``set_peft_model_state_dict``)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    saved = load_file(str(Path(folder) / "adapter_model.safetensors"))
    result = set_peft_model_state_dict(model, {k.removeprefix(SAVED_PREFIX): v for k, v in saved.items()})
    if result.unexpected_keys:
        raise ValueError(f"{folder}: adapter weights that match no layer of the model: {result.unexpected_keys[:3]}")


def save_adapter(model: torch.nn.Module, folder: Path, base_model: str | Path) -> None:
    """The adapter in peft's layout (``adapter_model.safetensors`` + ``adapter_config.json``: what
    ``peft.PeftModel.from_pretrained`` and vLLM's LoRA loader read), from peft's ``get_peft_model_state_dict``."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    weights = {SAVED_PREFIX + k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(model).items()}
    save_file(weights, str(folder / "adapter_model.safetensors"))
    config = model.peft_config["default"]
    config.base_model_name_or_path = str(base_model)
    config.save_pretrained(str(folder))  # adapter_config.json


def adapters_are_zero(model: torch.nn.Module) -> bool:
    """Every adapter still adds nothing (``B`` = 0: a run that has not stepped yet): nothing to send an engine."""
    return all(not torch.count_nonzero(p) for n, p in model.named_parameters() if "lora_B" in n)


@dataclass
class MergeReport:
    """How much of the adapters' update the merged weights kept: adapted elements the merge changed."""

    changed: int = 0
    adapted: int = 0

    @property
    def share(self) -> float:
        return self.changed / max(1, self.adapted)


@torch.no_grad()
def merged_weights(model: torch.nn.Module, report: MergeReport | None = None) -> Iterator[tuple[str, torch.Tensor]]:
    """The model's weights with every adapter merged in, one at a time, under the plain model's names (no
    ``base_layer``, no ``lora_``), in the base weights' dtype; tied weights once (the first name). Each merged weight
    is computed in float32 and cast once; ``report`` counts the adapted elements the merge changed."""
    layers = {f"{name}.base_layer.weight": layer for name, layer in _lora_layers(model)}
    seen = set()
    for name, tensor in model.state_dict().items():
        if "lora_" in name:
            continue
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if key in seen:  # a tied weight (the output head is the embeddings): written once
            continue
        seen.add(key)
        if name in layers:
            delta = layers[name].get_delta_weight("default").float()
            merged = (tensor.float() + delta).to(tensor.dtype)
            del delta
            if report is not None:
                report.changed += int(torch.count_nonzero(merged != tensor))
                report.adapted += tensor.numel()
            tensor = merged
        yield name.replace(".base_layer.", "."), tensor


def save_merged(model: torch.nn.Module, folder: Path, max_shard_bytes: int = 4 * 1024**3) -> MergeReport:
    """A plain model folder of the merged weights (transformers' sharded safetensors layout, its config), written
    a weight at a time: the host holds at most one shard, the device one merged weight beyond the model."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    report, shards, shard, size, total = MergeReport(), [], {}, 0, 0
    weight_map: dict[str, int] = {}

    def flush():
        nonlocal shard, size
        if shard:
            save_file(shard, str(folder / f"shard-{len(shards)}.tmp"), metadata={"format": "pt"})
            shards.append(list(shard))
            shard, size = {}, 0

    for name, tensor in merged_weights(model, report):
        tensor = tensor.detach().to("cpu").contiguous()  # a copy off the GPU; on the CPU the weight itself
        if size and size + tensor.nbytes > max_shard_bytes:
            flush()
        shard[name] = tensor
        size += tensor.nbytes
        total += tensor.nbytes
        weight_map[name] = len(shards)
    flush()
    files = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    if len(files) == 1:
        files = ["model.safetensors"]
    for i, file in enumerate(files):
        (folder / f"shard-{i}.tmp").rename(folder / file)
    if len(files) > 1:
        index = {"metadata": {"total_size": total}, "weight_map": {k: files[i] for k, i in weight_map.items()}}
        (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))
    model.config.save_pretrained(folder)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(folder)
    return report


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
