"""The exceptions the library raises for things a user can fix or a model can see: bad input (an image, a dataset
row, a model folder, a setting), a failing tool call (an observation, never an exception out of the graph), a
training step out of memory. What the command line makes of them — one line, an exit code — is in
:mod:`deepeyes_agent.cli.exit_codes`.
"""

from __future__ import annotations


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
