"""The base of every run configuration: a pydantic model that also loads from YAML.

A YAML file may start from another with ``extends: other.yaml`` (a path relative to the file); nested
mappings merge key by key, everything else replaces. Keyword overrides (the command line's flags) win over
the file, and ``None`` means "not given".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from .device import PlacementConfig


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping with its ``extends:`` chain resolved (the file's own keys win)."""
    path = Path(path)
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise yaml.YAMLError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    parent = data.pop("extends", None)
    return deep_merge(read_yaml(path.parent / parent), data) if parent else data


def deep_merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class RunConfig(BaseModel):
    """A configuration that loads from YAML, with overrides. An unknown setting is an error, not ignored."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides):
        return cls.model_validate(deep_merge(read_yaml(path), {k: v for k, v in overrides.items() if v is not None}))

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides):
        """From ``path`` when given, else from the overrides alone."""
        return (
            cls.from_yaml(path, **overrides)
            if path
            else cls.model_validate({k: v for k, v in overrides.items() if v is not None})
        )


class ModelRunConfig(RunConfig, PlacementConfig):
    """A run that loads a model: its device and precision (``--device``, ``--dtype``, ``--compile``)."""


class JudgedRunConfig(ModelRunConfig):
    """A run whose answers are judged: eval, select and train share these settings."""

    judge: Literal["option", "exact", "llm"] = Field(
        "option",
        description="option: DeepEyes' V* rules (letter, 'A. text', the option's words, a sentence naming one) and "
        "normalised exact match for free-form rows · exact: normalised string · llm: an OpenAI-compatible endpoint "
        "(judge_url)",
    )
    judge_url: str | None = Field(None, description="the LLM judge's base URL (…/v1); key from DEEPEYES_JUDGE_API_KEY")
    judge_model: str = Field("judge", description="the LLM judge's model name")
