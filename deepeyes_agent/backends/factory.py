"""One place that turns the CLI's backend choice into a backend."""

from __future__ import annotations

from enum import Enum
from pathlib import Path


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
    max_model_len: int | None = None,
):
    """``transformers``: in-process torch model (CPU default). ``vllm``: an in-process vLLM engine (``AsyncLLM``).
    ``server``: a running vLLM server at ``server_url`` serving ``model_dir`` (``deepeyes-agent serve-model``)."""
    try:
        kind = BackendKind(kind)
    except ValueError:
        raise ValueError(f"unknown backend {kind!r}: one of {', '.join(k.value for k in BackendKind)}") from None
    if server_url and kind is BackendKind.TRANSFORMERS:
        kind = BackendKind.SERVER
    if kind is BackendKind.TRANSFORMERS:
        from .transformers_backend import TransformersBackend

        return TransformersBackend.from_pretrained(model_dir)
    if kind is BackendKind.VLLM:
        from .vllm_backend import VLLMBackend

        return VLLMBackend(model_dir, max_images=max_images, max_model_len=max_model_len)
    if not server_url:
        from ..errors import InputError

        raise InputError("the server backend needs --server-url (e.g. http://127.0.0.1:8000)")
    from .server import ServerBackend

    return ServerBackend(server_url, model_dir, model=served_model, concurrency=concurrency)
