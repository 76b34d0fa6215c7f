"""The ``deepeyes-agent`` Typer app and what every command shares (console, ``--debug``)."""

from __future__ import annotations

import os

import typer
from rich.console import Console

# locals are never shown in a traceback: they can hold API keys
app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Thinking with images: a VLM that zooms into its own image.",
)
console = Console()
state = {"debug": False}


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="show the traceback of any error")) -> None:
    state["debug"] = debug
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no hub here: a bad model name fails at once
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
