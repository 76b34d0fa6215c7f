"""Token-in/token-out policy backends."""

from .base import Backend, Completion, GenerationRequest, SamplingParams, collapse_image_pads
from .scripted import ScriptedBackend
from .transformers_backend import TransformersBackend

__all__ = [
    "Backend", "Completion", "GenerationRequest", "SamplingParams", "collapse_image_pads",
    "ScriptedBackend", "TransformersBackend",
]
