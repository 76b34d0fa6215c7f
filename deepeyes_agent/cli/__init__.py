"""``deepeyes-agent`` command line: ask, view, zoomworld, eval, serve-model (inference); pretrain, train, select
(training); ``openrlhf train | export`` (scale-out). Settings come from the config classes (``--help`` lists
each once, with its description); ``--config FILE.yaml`` sets any of them, flags win."""

from __future__ import annotations

import sys
import warnings

import typer

from . import inference, openrlhf, training  # noqa: F401  (register the commands)
from .app import app, console, state

__all__ = ["app", "console", "main"]


def main() -> None:
    """The entry point: the user's mistakes and unavailable services end in one line on stderr and an exit code
    (2 bad input — click's usage errors too —, 3 unavailable backend or judge; see :mod:`deepeyes_agent.errors`);
    warnings are one line each."""
    from .exit_codes import BAD_INPUT, exit_code, one_line

    warnings.formatwarning = _one_line_warning  # (not showwarning: warnings.catch_warnings records still)
    try:
        code = app(standalone_mode=False)
    except UsageError as exc:  # a flag, choice or argument the parser refused (a missing image file among them)
        typer.echo(f"error: {' '.join(exc.format_message().replace('Value error, ', '').split())}", err=True)
        sys.exit(BAD_INPUT)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:
        code = exit_code(exc)
        if code is None or state["debug"]:
            raise
        typer.echo(f"error: {one_line(exc)}", err=True)
        sys.exit(code)
    sys.exit(code if isinstance(code, int) else 0)


UsageError = typer.BadParameter.__mro__[1]  # the usage error of the click that typer runs (its own copy, or click)


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {' '.join(str(message).split())}\n"
