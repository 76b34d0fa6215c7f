"""Atomic checkpoints: write a complete folder, then swap it in; a kill at any moment leaves one intact."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

NAME = "checkpoint"


class CheckpointError(OSError):
    """A checkpoint could not be written (e.g. disk full); the previous one is untouched."""


def save_atomically(out: Path, write: Callable[[Path], None], marker: str) -> Path:
    tmp, final, old = out / f".{NAME}.tmp", out / NAME, out / f".{NAME}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        write(tmp)
        (tmp / "COMPLETE").write_text(marker)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)  # give the space back; the last complete checkpoint stays
        previous = (final / "COMPLETE").read_text() if (final / "COMPLETE").exists() else None
        raise CheckpointError(
            exc.errno,
            f"checkpoint {marker} not written to {out} ({exc.strerror or exc}); "
            + (f"checkpoint {previous} is intact" if previous else "no earlier checkpoint exists"),
        ) from exc
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def latest(out: Path) -> Path | None:
    """The last complete checkpoint (repairing a kill between the two renames), or None."""
    final, old = out / NAME, out / f".{NAME}.old"
    if (final / "COMPLETE").exists():
        return final
    if (old / "COMPLETE").exists():
        shutil.rmtree(final, ignore_errors=True)
        os.replace(old, final)
        return final
    return None
