"""Package exports imported when first used (PEP 562): ``import deepeyes_agent`` and ``--help`` stay light, while
``from deepeyes_agent import create_visual_agent`` works as a plain export."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module


def lazy_exports(package: str, exports: dict[str, str], namespace: dict) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: ``exports`` maps a name to the submodule (``".graphs"``) holding it;
    the first access imports it and caches it in ``namespace`` (the package's globals)."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(exports[name], package), name)
        namespace[name] = value
        return value

    return __getattr__
