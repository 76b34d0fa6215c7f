"""The ``deepeyes-agent`` Typer app and what every command shares (console, ``--debug``)."""

from __future__ import annotations

import typer
from rich.console import Console

# locals are never shown in a traceback: they can hold API keys
app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    # click's own help: wrapped at the terminal's width (80 columns too), no rich tables cutting option names
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
    help="Thinking with images: a VLM that zooms into its own image.",
)
console = Console()


class Command(typer.core.TyperCommand):
    """A command whose usage line names its arguments as click does (``IMAGE QUESTION``; optional ones
    ``[NAME]``), not Typer's ``{IMAGE}``."""

    def collect_usage_pieces(self, ctx):
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = param.display_name_raw + ("..." if param.nargs != 1 else "")
                pieces.append(name if param.required else f"[{name}]")
        return pieces


state = {"debug": False}


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="show the traceback of any error")) -> None:
    state["debug"] = debug
