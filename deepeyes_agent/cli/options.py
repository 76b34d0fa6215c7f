"""Command-line options generated from the pydantic config classes: each field is declared once, in its
class, with its description, and becomes ``--field-name`` (nested models: ``--grpo-clip-low``).

A command made with :func:`config_command` takes ``--config FILE.yaml`` (any subset of the fields) and the
generated flags; a flag given on the command line wins over the file, the file over the class's default.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from ..backends.factory import BackendKind
from ..configs import deep_merge, read_yaml
from ..device import DType

# -- options shared by several commands (one declaration each) -----------------------------------------
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="a local model folder or a hub id (Qwen/Qwen2.5-VL-7B-Instruct, ChenShawn/DeepEyes-7B, Qwen3-VL), fetched "
        "into the Hugging Face cache; or 'base' (the embedded model before RL); default: the embedded model",
    ),
]
RevisionOption = Annotated[
    str | None,
    typer.Option("--revision", help="the hub model's branch, tag or commit (default: main)"),
]
BackendOption = Annotated[
    BackendKind,
    typer.Option(
        "--backend",
        help="transformers: in-process torch · vllm: an in-process vLLM engine · server: a running vLLM "
        "server (--server-url)",
    ),
]
ServerUrlOption = Annotated[
    str | None,
    typer.Option(
        "--server-url", help="URL of a vLLM server serving MODEL (deepeyes-agent serve-model); implies --backend server"
    ),
]
ServedModelOption = Annotated[
    str | None, typer.Option("--served-model", help="the server's model name (--served-model-name)")
]


def _described(name: str) -> str:
    from ..device import PlacementConfig

    return PlacementConfig.model_fields[name].description


DeviceOption = Annotated[str, typer.Option("--device", help=_described("device"))]
DTypeOption = Annotated[DType, typer.Option("--dtype", help=_described("dtype"))]
CompileOption = Annotated[bool, typer.Option("--compile/--no-compile", help=_described("compile"))]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", exists=True, dir_okay=False, help="YAML with any of the settings below (flags win over the file)"
    ),
]

_SIMPLE = (bool, int, float, str, Path)


def _unwrap(annotation) -> tuple[Any, bool]:
    """``X | None`` → (X, True)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True  # noqa: UP007 (built at run time)
    return annotation, False


def _cli_type(annotation) -> tuple[Any, bool]:
    """The type the option parses (simple types, Literal and Enum choices as they are; anything else — dicts,
    lists, tuples, unions — as a JSON string) and whether the value is JSON."""
    inner, _ = _unwrap(annotation)
    if inner in _SIMPLE or typing.get_origin(inner) is Literal or (isinstance(inner, type) and issubclass(inner, Enum)):
        return inner, False
    if typing.get_origin(inner) in (typing.Union, types.UnionType) and set(typing.get_args(inner)) <= {str, Path}:
        return str, False  # a path or a name (e.g. --model base)
    return str, True


def _default_text(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, BaseModel) or value is None:
        return ""
    text = json.dumps(value, default=str) if isinstance(value, (dict, list, tuple)) else str(value)
    return f"default: {text}" if len(text) <= 60 else "default: see the config class"


def _mixin_panel(cls: type[BaseModel], name: str) -> str | None:
    """The help panel of a field declared by a settings mixin that names one (e.g. device and precision)."""
    for base in cls.__mro__:
        if name in base.__dict__.get("__annotations__", {}):
            return getattr(base, "help_panel", None)
    return None


def config_parameters(
    cls: type[BaseModel], *, skip: set[str] = frozenset(), prefix: str = "", panel: str | None = None
) -> list[tuple[tuple[str, ...], inspect.Parameter, bool]]:
    """``(key path, typer parameter, parse-as-JSON)`` for every field of ``cls``; nested config models are
    flattened one level (``grpo.clip_low`` → ``--grpo-clip-low``, in their own help panel)."""
    out = []
    for name, field in cls.model_fields.items():
        if name in skip:
            continue
        inner, _ = _unwrap(field.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel) and not prefix:
            title = (inner.__doc__ or inner.__name__).strip().splitlines()[0].rstrip(".")
            for path, param, is_json in config_parameters(inner, prefix=f"{name}_", panel=f"{name}: {title}"):
                out.append(((name, *path), param, is_json))
            continue
        kind, is_json = _cli_type(field.annotation)
        flag = f"--{(prefix + name).replace('_', '-')}"
        default = _default_text(field)
        names = typing.get_args(_unwrap(field.annotation)[0]) == (str,)  # a list of names: "a,b" or JSON
        hint = "(comma-separated)" if names else "(JSON)" if is_json else ""
        help_parts = [field.description or "", hint, f"({default})" if default else ""]
        decls = [f"{flag}/--no-{flag[2:]}"] if kind is bool else [flag]
        option = typer.Option(
            None,
            *decls,
            help=" ".join(p for p in help_parts if p),
            rich_help_panel=panel or _mixin_panel(cls, name),
            show_default=False,
        )
        param = inspect.Parameter(
            f"{prefix}{name}", inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind | None
        )
        out.append(((name,), param, is_json))
    return out


def config_command(
    app: typer.Typer,
    cls: type[BaseModel],
    *,
    name: str | None = None,
    skip: set[str] = frozenset(),
    also: dict[str, type[BaseModel]] | None = None,
) -> Callable:
    """Register ``fn(cfg, **own_options)`` as a command whose options are ``cls``'s fields plus ``fn``'s own.

    ``also={"cluster": ClusterConfig}``: a second settings class, its flags in their own help panel, its section
    of the YAML under that key; ``fn`` receives it as the keyword ``cluster``."""

    def register(fn: Callable) -> Callable:
        groups = {None: (cls, config_parameters(cls, skip=set(skip)))}
        for attr, extra in (also or {}).items():
            groups[attr] = (extra, config_parameters(extra, panel=(extra.__doc__ or attr).strip().splitlines()[0]))
        own = [
            p for p in list(inspect.signature(fn, eval_str=True).parameters.values())[1:] if p.name not in (also or {})
        ]
        config_param = inspect.Parameter(
            "config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ConfigOption
        )

        def command(**kwargs):
            file = read_yaml(kwargs.pop("config")) if kwargs.get("config") else {}
            kwargs.pop("config", None)
            settings = {}
            for attr, (model, generated) in groups.items():
                base = file.pop(attr, {}) if attr else {}
                settings[attr] = (model, deep_merge(base, _flags(generated, kwargs)))
            main_model, main_flags = settings.pop(None)
            cfg = main_model.model_validate(deep_merge(file, main_flags))
            extras = {attr: model.model_validate(values) for attr, (model, values) in settings.items()}
            return fn(cfg, **extras, **kwargs)

        params = [*own, config_param, *(p for _, generated in groups.values() for _, p, _ in generated)]
        command.__signature__ = inspect.Signature(params)
        command.__doc__ = fn.__doc__
        command.__name__ = fn.__name__
        from .app import Command

        app.command(name=name or fn.__name__.replace("_", "-"), cls=Command)(command)
        return fn

    return register


def _flags(generated, kwargs: dict) -> dict:
    """The flags the user gave (popped from ``kwargs``) as a nested mapping of settings."""
    out: dict[str, Any] = {}
    for path, param, is_json in generated:
        value = kwargs.pop(param.name)
        if value is None:
            continue
        if is_json:
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                if not value.lstrip().startswith(("[", "{", '"')):  # a list of names: comma-separated
                    value = [v.strip() for v in value.split(",") if v.strip()]
                else:
                    raise typer.BadParameter(
                        f"not JSON: {value!r} ({exc})", param_hint=f"--{param.name.replace('_', '-')}"
                    ) from exc
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return out
