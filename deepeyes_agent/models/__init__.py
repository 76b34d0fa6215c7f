"""The tiny-model kit: tokenizer, processor, a Qwen2.5-VL-architecture model, and the default model."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from ..lazy import lazy_exports
from .spec import TinyModelSpec

SHIPPED_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "model"  # after RL: it zooms
BASE_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "base_model"  # before RL: never saw the chain
AGENT_DEFAULTS_FILE = "deepeyes_agent.json"


def agent_defaults(model_dir: str | Path) -> dict:
    """What a model folder says about how to prompt it (e.g. ``system_prompt``); empty for plain Qwen folders."""
    path = Path(model_dir) / AGENT_DEFAULTS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def write_agent_defaults(model_dir: str | Path, **defaults) -> None:
    (Path(model_dir) / AGENT_DEFAULTS_FILE).write_text(json.dumps(defaults, indent=1))


def home_dir() -> Path:
    return Path(os.environ.get("DEEPEYES_AGENT_HOME", Path.home() / ".cache" / "deepeyes-agent"))


def default_model_dir() -> Path:
    """The embedded default model: the shipped checkpoint when present, else the tiny random model
    built once (deterministically, offline) into the cache."""
    if (SHIPPED_MODEL_DIR / "config.json").exists():
        return SHIPPED_MODEL_DIR
    from .tiny import build_tiny_model

    return build_folder_once(home_dir() / "models" / "tiny-random-v1", build_tiny_model)


def base_model_dir() -> Path:
    """The embedded model before RL: pretrained on zoom-world skills, never shown a question → zoom → answer
    chain (what RL starts from to show tool use emerging)."""
    if (BASE_MODEL_DIR / "config.json").exists():
        return BASE_MODEL_DIR
    return default_model_dir()


def is_embedded(model_dir: str | Path) -> bool:
    """The embedded demo models (zoom-world only)."""
    return Path(model_dir).resolve() in (SHIPPED_MODEL_DIR.resolve(), BASE_MODEL_DIR.resolve())


def embedded_dtype_note(model_dir: str | Path, dtype) -> str | None:
    """What to tell someone running an embedded model in another precision than it was trained in (measured: 200
    held-out zoom-world rows, greedy, CPU)."""
    import torch

    if dtype is torch.float32 or not is_embedded(model_dir):
        return None
    return (
        f"the embedded model was trained in float32; in {str(dtype).removeprefix('torch.')} it scored 93.5 % on 200 "
        "held-out rows against 94.0 % in float32 (CPU, bfloat16 measured; float16 and GPUs unmeasured)"
    )


def resolve_model_dir(model: str | Path | None, revision: str | None = None, *, progress: bool = False) -> Path:
    """``model`` as a model folder: ``None`` the embedded default, ``"base"`` the embedded model before RL, a local
    folder, or a hub id (``org/name``, fetched into the Hugging Face cache or found there, at ``revision``; see
    :mod:`deepeyes_agent.models.hub`; ``progress``: show the download). Anything else is an
    :class:`~deepeyes_agent.errors.InputError` naming it."""
    from ..errors import InputError

    if model is None:
        return default_model_dir()
    if str(model) == "base" and not Path(model).exists():
        return base_model_dir()
    from .hub import fetch, is_hub_id

    path = fetch(str(model), revision, progress=progress) if is_hub_id(str(model)) else Path(model).expanduser()
    if not (path / "config.json").is_file():
        what = "no such folder" if not path.exists() else "not a model folder (no config.json)"
        raise InputError(f"--model {model}: {what}; pass a local Qwen2.5-VL / Qwen3-VL folder or a hub id (org/name)")
    try:
        config = json.loads((path / "config.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"--model {model}: its config.json is not valid JSON ({exc})") from exc
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in MODEL_TYPES:
        raise InputError(
            f"--model {model}: model_type {model_type!r} is not a vision-language model this library runs "
            f"({', '.join(MODEL_TYPES)})"
        )
    return path


MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe")


def check_weights(model_dir: str | Path) -> None:
    """A model folder must hold its weights before a model is loaded from it (a vLLM server's folder need not)."""
    from ..errors import InputError

    path = Path(model_dir)
    if not any(path.glob("*.safetensors")) and not any(path.glob("pytorch_model*.bin")):
        raise InputError(f"{path}: no weights (model.safetensors or pytorch_model.bin) in the model folder")


def build_folder_once(target: Path, build, marker: str = "config.json") -> Path:
    """``target``, built by ``build(folder)`` in a temporary sibling and moved into place unless
    ``target/marker`` already exists (concurrent builders: one wins, none sees a half-built folder)."""
    if not (target / marker).exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".building-"))
        try:
            build(tmp)
            if not (target / marker).exists():
                shutil.rmtree(target, ignore_errors=True)
                os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


__all__ = [
    "ImageOnlyQwenVLProcessor",
    "TinyModelSpec",
    "agent_defaults",
    "build_processor",
    "build_tiny_model",
    "default_model_dir",
    "load_processor",
    "resolve_model_dir",
    "write_agent_defaults",
]


_LAZY = {
    "ImageOnlyQwenVLProcessor": ".processor",
    "load_processor": ".processor",
    "build_processor": ".tiny",
    "build_tiny_model": ".tiny",
}


__getattr__ = lazy_exports(__name__, _LAZY, globals())  # transformers loads with a model, not before
