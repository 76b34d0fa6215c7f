"""Token-in/token-out policy backends."""

from .base import (
    Backend,
    BackendUnavailable,
    Completion,
    GenerationRequest,
    RequestRejected,
    SamplingParams,
    TokenDrift,
    collapse_image_pads,
    derive_seed,
)
from .scripted import ScriptedBackend
from .server import ServerBackend
from .transformers_backend import TransformersBackend
from .vllm_backend import VLLMBackend

__all__ = [
    "Backend",
    "BackendUnavailable",
    "Completion",
    "GenerationRequest",
    "RequestRejected",
    "SamplingParams",
    "TokenDrift",
    "collapse_image_pads",
    "derive_seed",
    "ScriptedBackend",
    "ServerBackend",
    "TransformersBackend",
    "VLLMBackend",
]
