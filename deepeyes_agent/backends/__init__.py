"""Token-in/token-out policy backends (imported when first used: the transformers and vLLM backends are heavy)."""

from importlib import import_module

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
    "ServerBackend": ".server",
    "TransformersBackend": ".transformers_backend",
    "VLLMBackend": ".vllm_backend",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
