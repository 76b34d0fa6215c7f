"""What the command line makes of an exception: one line and a documented exit code for the user's own
mistakes and for services that are down; a traceback only for bugs (or with ``--debug``).

Exit codes: 0 done · 1 finished without a result (e.g. nothing exported) · 2 bad input (an image, a dataset
row, a model folder, a config value, a setting too large for the memory) · 3 a backend, judge or device that is
unavailable · 130 interrupted.
"""

from __future__ import annotations

from ..errors import InputError

BAD_INPUT, UNAVAILABLE = 2, 3


def exit_code(exc: BaseException) -> int | None:
    """The exit code for a user-facing failure, or None for a bug (show the traceback)."""
    import pydantic
    import yaml

    from ..backends.base import BackendUnavailable
    from ..checkpoint import CheckpointError
    from ..device import DeviceUnavailable
    from ..judges import JudgeError

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
