"""Token-in/token-out policy backends (imported when first used: the transformers and vLLM backends are heavy)."""

from ..lazy import lazy_exports

_EXPORTS = {
    "Backend": ".base",
    "BackendUnavailable": ".base",
    "Completion": ".base",
    "GenerationRequest": ".base",
    "RequestRejected": ".base",
    "SamplingParams": ".base",
    "TokenDrift": ".base",
    "collapse_image_pads": ".base",
    "derive_seed": ".base",
    "ScriptedBackend": ".scripted",
    "answer_turn": ".scripted",
    "tool_call_turn": ".scripted",
    "ServerBackend": ".server",
    "TransformersBackend": ".transformers_backend",
    "VLLMBackend": ".vllm_backend",
}


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())


__all__ = sorted(_EXPORTS)
