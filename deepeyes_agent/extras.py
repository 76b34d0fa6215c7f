"""Optional dependencies: a module from an extra, or one line saying which extra to install."""

from __future__ import annotations

import importlib

from .errors import InputError


def require(module: str, extra: str, what: str):
    """``module`` imported, or an :class:`InputError` (exit 2): ``what`` needs ``pip install 'deepeyes-agent[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        raise InputError(f"{what} needs {package}: pip install 'deepeyes-agent[{extra}]'") from exc
