"""The tiny-model kit: tokenizer, processor, a Qwen2.5-VL-architecture model, and the default model."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .processor import ImageOnlyQwenVLProcessor, load_processor
from .tiny import TinyModelSpec, build_processor, build_tiny_model

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
    return build_folder_once(home_dir() / "models" / "tiny-random-v1", build_tiny_model)


def base_model_dir() -> Path:
    """The embedded model before RL: pretrained on zoom-world skills, never shown a question → zoom → answer
    chain (what RL starts from to show tool use emerging)."""
    if (BASE_MODEL_DIR / "config.json").exists():
        return BASE_MODEL_DIR
    return default_model_dir()


def resolve_model_dir(model: str | Path | None) -> Path:
    """``model`` as a model folder (``None``: the embedded default, ``"base"``: the embedded model before RL); a
    path that is not one is an :class:`~deepeyes_agent.errors.InputError` naming it (hub names are not fetched:
    there is no hub here)."""
    from ..errors import InputError

    if model is None:
        return default_model_dir()
    if str(model) == "base" and not Path(model).exists():
        return base_model_dir()
    path = Path(model).expanduser()
    if not (path / "config.json").is_file():
        what = "no such folder" if not path.exists() else "not a model folder (no config.json)"
        raise InputError(f"--model {model}: {what}; pass a local Qwen2.5-VL / Qwen3-VL folder")
    return path


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
