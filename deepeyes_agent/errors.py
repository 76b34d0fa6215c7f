"""What the command line makes of an exception: one line and a documented exit code for the user's own
mistakes and for services that are down; a traceback only for bugs (or with ``--debug``).

Exit codes: 0 done · 1 finished without a result (e.g. nothing exported) · 2 bad input (an image, a dataset
row, a model folder, a config value, a setting too large for the memory) · 3 a backend, judge or device that is
unavailable · 130 interrupted.
"""

from __future__ import annotations

BAD_INPUT, UNAVAILABLE = 2, 3


class InputError(ValueError):
    """Input the user can fix: an image, a dataset row, a model folder, a setting. The CLI prints one line, exits 2."""


class ToolError(Exception):
    """A tool call that fails: ``observation`` is the text the model is shown (``Error: …``, DeepEyes' wording where
    DeepEyes has one), ``reason`` says why for people (kept in the trajectory), ``kind`` what went wrong, for the
    per-tool error metrics: ``invalid_arguments``, ``unknown_tool``, ``timeout``, ``unavailable`` (a server that is
    down or closed the connection), ``failed`` (the tool raised or reported an error). The episode goes on."""

    def __init__(self, observation: str, reason: str, kind: str = "failed"):
        super().__init__(reason)
        self.observation = observation
        self.reason = reason
        self.kind = kind


class TrainingOutOfMemory(InputError):
    """A training step ran out of memory: the message names the settings to lower; the last checkpoint is intact."""


def exit_code(exc: BaseException) -> int | None:
    """The exit code for a user-facing failure, or None for a bug (show the traceback)."""
    import pydantic
    import yaml

    from .backends.base import BackendUnavailable
    from .checkpoint import CheckpointError
    from .device import DeviceUnavailable
    from .rl.judges import JudgeError

    if isinstance(exc, (InputError, pydantic.ValidationError, yaml.YAMLError)):
        return BAD_INPUT
    if isinstance(exc, (BackendUnavailable, JudgeError, ConnectionError, DeviceUnavailable)):
        return UNAVAILABLE
    if isinstance(exc, CheckpointError):
        return 1
    return None


def one_line(exc: BaseException) -> str:
    """A readable single line in the project's words: a setting pydantic refused named by its flag (``--device tpu:
    …``, no class names, no pydantic prefixes), other messages with their newlines folded."""
    import pydantic

    if isinstance(exc, pydantic.ValidationError):
        text = "; ".join(_setting_error(e) for e in exc.errors())
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _setting_error(error: dict) -> str:
    """One refused setting: its flag (``grpo.clip_low`` → ``--grpo-clip-low``), the value given, what is wrong."""
    loc = [str(p) for p in error.get("loc", ()) if not isinstance(p, int)]
    flag = "--" + "-".join(loc).replace("_", "-") if loc else "a setting"
    message = str(error.get("msg", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    value = error.get("input")
    shown = f" {value}" if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
    return f"{flag}{shown}: {message[:1].lower() + message[1:]}"
