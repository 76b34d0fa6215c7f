"""Experiment trackers, named as TRL names them (``report_to``): ``tensorboard``, ``wandb``, ``trackio`` (or
``none``). A run logs the same step metrics it writes to ``metrics.jsonl`` — reward parts, per-tool metrics, eval
accuracy, ``weights_moved`` … — to each tracker, step-aligned; values that are not numbers (a list of skipped rows)
stay in the JSONL only.

- ``tensorboard``: event files under ``<out>/tensorboard`` (``tensorboard --logdir <out>/tensorboard``);
- ``wandb``: a W&B run in project ``$WANDB_PROJECT`` (default ``deepeyes-agent``), named for the run folder, its
  files under ``<out>``; ``WANDB_MODE=offline`` keeps it local (``wandb sync`` later);
- ``trackio``: a Trackio run in project ``$TRACKIO_PROJECT`` (default ``deepeyes-agent``), stored locally
  (``$TRACKIO_DIR``, default the Hugging Face cache; ``trackio show`` opens the dashboard).

Each tracker comes from an extra (``pip install 'deepeyes-agent[tensorboard]'``, ``[wandb]``, ``[trackio]``); a
missing one is named with its pip command when the run starts.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from .extras import require

ReportTo = Literal["none", "tensorboard", "wandb", "trackio"]


class TrackingSettings(BaseModel):
    """Where a training run's metrics go besides metrics.jsonl (train, pretrain)."""

    report_to: list[ReportTo] = Field(
        default_factory=lambda: ["none"],
        description="experiment trackers that get every step's metrics, as TRL names them: none · tensorboard "
        "(<out>/tensorboard) · wandb ($WANDB_PROJECT; WANDB_MODE=offline keeps it local) · trackio (local, "
        "$TRACKIO_DIR)",
    )

    def trackers(self, out: Path, config: dict | None = None) -> Trackers:
        return Trackers(self.report_to, out, config)


class Trackers:
    """The trackers of a run: ``log(metrics, step)`` to each, ``close()`` at the end."""

    def __init__(self, report_to: list[str], out: Path, config: dict | None = None, project: str = "deepeyes-agent"):
        names = [n for n in dict.fromkeys(report_to) if n != "none"]
        self.sinks = []
        out = Path(out)
        for name in names:
            if name == "tensorboard":
                require("tensorboard", "tensorboard", "--report-to tensorboard")
                from torch.utils.tensorboard import SummaryWriter

                self.sinks.append(_TensorBoard(SummaryWriter(log_dir=str(out / "tensorboard"))))
            elif name == "wandb":
                wandb = require("wandb", "wandb", "--report-to wandb")
                run = wandb.init(
                    project=os.environ.get("WANDB_PROJECT", project), name=out.name, dir=str(out), config=config
                )
                self.sinks.append(_WandB(run))
            elif name == "trackio":
                trackio = require("trackio", "trackio", "--report-to trackio")
                run = trackio.init(project=os.environ.get("TRACKIO_PROJECT", project), name=out.name, config=config)
                self.sinks.append(_Trackio(trackio, run))
            else:
                raise ValueError(f"unknown tracker {name!r}: none, tensorboard, wandb or trackio")

    def log(self, metrics: dict, step: int) -> None:
        scalars = {k: float(v) for k, v in metrics.items() if _is_number(v) and k != "step"}
        for sink in self.sinks:
            sink.log(scalars, step)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _TensorBoard:
    def __init__(self, writer):
        self.writer = writer

    def log(self, scalars: dict, step: int) -> None:
        for key, value in scalars.items():
            self.writer.add_scalar(key, value, global_step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class _WandB:
    def __init__(self, run):
        self.run = run

    def log(self, scalars: dict, step: int) -> None:
        self.run.log(scalars, step=step)

    def close(self) -> None:
        self.run.finish()


class _Trackio:
    def __init__(self, trackio, run):
        self.trackio, self.run = trackio, run

    def log(self, scalars: dict, step: int) -> None:
        self.run.log(scalars, step=step)

    def close(self) -> None:
        self.run.finish()
