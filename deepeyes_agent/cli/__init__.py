"""``deepeyes-agent`` command line: ask, view, zoomworld, eval, serve-model (inference); pretrain, train, select
(training); ``openrlhf train | export`` (scale-out). Settings come from the config classes (``--help`` lists
each once, with its description); ``--config FILE.yaml`` sets any of them, flags win."""

from __future__ import annotations

import sys

import typer

from . import inference, openrlhf, training  # noqa: F401  (register the commands)
from .app import app, console, state

__all__ = ["app", "console", "main"]


def main() -> None:
    """The entry point: the user's mistakes and unavailable services end in one line on stderr and an exit code
    (2 bad input, 3 unavailable backend or judge; see :mod:`deepeyes_agent.errors`)."""
    from ..errors import exit_code, one_line

    try:
        app()
    except Exception as exc:
        code = exit_code(exc)
        if code is None or state["debug"]:
            raise
        typer.echo(f"error: {one_line(exc)}", err=True)
        sys.exit(code)
