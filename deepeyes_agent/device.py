"""Device and precision, decided in one place and handed down (as accelerate's ``Accelerator`` does for TRL).

Every command, config class and ``create_visual_agent`` takes ``device`` and ``dtype`` by name; they are resolved
here once into a :class:`Placement` and passed to whatever loads or trains a model. Nothing below picks its own.

- ``device``: ``auto`` (the first CUDA GPU when torch sees one, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``.
- ``dtype``: ``auto`` — on the CPU float32; on a GPU the checkpoint's own dtype (``bfloat16`` for Qwen2.5-VL,
  Qwen3-VL and DeepEyes-7B; the embedded model was trained and ships in float32 and stays in it), bfloat16 when the
  checkpoint names none — or ``bfloat16`` / ``float16`` / ``float32``.

A device that is not there raises :class:`DeviceUnavailable` (the CLI: one line, exit 3); a dtype the device
cannot run, or a model that cannot fit in the memory that is free, an :class:`~deepeyes_agent.errors.InputError`
(exit 2) — before anything is loaded or written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, Field, field_validator

from .errors import InputError

if TYPE_CHECKING:  # torch is imported where a placement is resolved: config classes (and --help) stay light
    import torch

DEVICE_NAMES = "auto | cpu | cuda | cuda:N"
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


class DeviceUnavailable(RuntimeError):
    """The device asked for is not on this machine (the CLI exits 3)."""


class DType(str, Enum):
    """Precision of the model's weights (inference) or of its compute (training, see ``precision``)."""

    AUTO = "auto"
    BFLOAT16 = "bfloat16"
    FLOAT16 = "float16"
    FLOAT32 = "float32"


class Precision(str, Enum):
    """How trained weights are kept (see :mod:`deepeyes_agent.precision`): ``mixed`` (float32 master weights, compute
    under autocast in the dtype) or ``pure`` (the weights themselves in the dtype)."""

    MIXED = "mixed"
    PURE = "pure"


class PlacementConfig(BaseModel):
    """Where a model runs and in what precision (shared by every run configuration and command)."""

    help_panel: ClassVar[str] = "device and precision"  # the CLI lists these flags together

    device: str = Field(
        "auto", description="auto: the first CUDA GPU when there is one, else the CPU · cpu · cuda · cuda:N"
    )
    dtype: DType = Field(
        DType.AUTO,
        description="auto: float32 on the CPU; on a GPU the checkpoint's dtype (bfloat16 for Qwen/DeepEyes-7B) · "
        "bfloat16 · float16 · float32",
    )
    compile: bool = Field(
        False,
        description="let transformers compile the decoding step on a GPU (static KV cache): faster tokens after a "
        "first call that compiles for tens of seconds — for long evals and RL, not a single ask",
    )

    @field_validator("device")
    @classmethod
    def _device_name(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError(f"unknown device; one of {DEVICE_NAMES}")
        return value

    def placement(self, model_dir: str | Path | None = None) -> Placement:
        return resolve(self.device, self.dtype, model_dir=model_dir, compile=self.compile)


@dataclass(frozen=True)
class Placement:
    """A resolved device and dtype (``compile``: transformers' automatic compile of the decoding step)."""

    device: torch.device
    dtype: torch.dtype
    compile: bool = False

    @property
    def on_gpu(self) -> bool:
        return self.device.type == "cuda"


def torch_dtype(name: str) -> torch.dtype:
    import torch

    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``; a CUDA device that is not there raises
    :class:`DeviceUnavailable` naming what torch sees."""
    import torch

    if isinstance(name, torch.device):
        name = str(name)
    if not _DEVICE.match(name) and name != "meta":
        raise InputError(f"--device {name}: unknown device; one of {DEVICE_NAMES}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is built without CUDA" if torch.version.cuda is None else "torch sees no CUDA device"
            raise DeviceUnavailable(
                f"--device {name}: no GPU here ({why}, torch {torch.__version__}); use --device cpu"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceUnavailable(
                f"--device {name}: this machine has {count} CUDA device(s) (cuda:0…cuda:{count - 1})"
            )
    return device


def checkpoint_dtype(model_dir: str | Path | None) -> torch.dtype | None:
    """The dtype a model folder's ``config.json`` names (``dtype`` / ``torch_dtype``), if any."""
    if model_dir is None:
        return None
    path = Path(model_dir) / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    name = config.get("dtype") or config.get("torch_dtype") or (config.get("text_config") or {}).get("dtype")
    return torch_dtype(name) if name in ("bfloat16", "float16", "float32") else None


def resolve_dtype(name: DType | str, device: torch.device, model_dir: str | Path | None = None) -> torch.dtype:
    """``auto`` → float32 on the CPU, the checkpoint's dtype on a GPU (bfloat16 when it names none). A dtype the
    device cannot run is an :class:`InputError`."""
    import torch

    name = DType(name)
    if name is DType.AUTO:
        if device.type != "cuda":
            return torch.float32
        dtype = checkpoint_dtype(model_dir) or torch.bfloat16
    else:
        dtype = torch_dtype(name.value)
    if device.type == "cuda" and dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
        name = torch.cuda.get_device_name(device)
        raise InputError(f"--dtype bfloat16: {name} has no bfloat16 support (before Ampere); use --dtype float16")
    return dtype


def resolve(
    device: str | torch.device = "auto",
    dtype: DType | str = DType.AUTO,
    *,
    model_dir: str | Path | None = None,
    compile: bool = False,
) -> Placement:
    where = resolve_device(device)
    return Placement(where, resolve_dtype(dtype, where, model_dir), compile)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


# -- memory ------------------------------------------------------------------------------------------------------


def weights_bytes(model_dir: str | Path, dtype: torch.dtype) -> int | None:
    """The size of a folder's weights once loaded in ``dtype`` (from the safetensors headers; None if unknown)."""
    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for file in files:
        with file.open("rb") as fh:
            header = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            numel = 1
            for size in entry["shape"]:
                numel *= size
            total += numel * (dtype.itemsize if entry["dtype"].startswith(("F", "BF")) else _itemsize(entry["dtype"]))
    return total


def _itemsize(code: str) -> int:
    return {"I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}.get(code, 4)


def free_bytes(device: torch.device) -> int:
    """Memory free for a new model: the GPU's free memory (torch), or the host's available RAM (psutil)."""
    import psutil
    import torch

    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return psutil.virtual_memory().available


def check_fits(model_dir: str | Path, placement: Placement, *, factor: float = 1.05) -> None:
    """Refuse (``InputError``) a model whose weights alone exceed the free memory of the device, before loading.
    The weights load straight onto the device (``device_map``), so the device's free memory is what the load uses;
    the host holds a few tensors at a time."""
    need = weights_bytes(model_dir, placement.dtype)
    if need is None:
        return
    have = free_bytes(placement.device)
    if need * factor > have:
        gib = 1024**3
        import torch

        hint = "a smaller --dtype (bfloat16)" if placement.dtype is torch.float32 else "a GPU with more memory"
        raise InputError(
            f"{model_dir}: the weights need {need / gib:.1f} GiB in {dtype_name(placement.dtype)} but "
            f"{placement.device} has {have / gib:.1f} GiB free; try {hint}"
            + (" or --device cuda" if placement.device.type == "cpu" and torch.cuda.is_available() else "")
        )


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's (and the CPU allocator's) out-of-memory errors."""
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )
