"""Atomic checkpoints: a failure while writing (disk full) leaves the previous one intact."""

from __future__ import annotations

import errno

import pytest

from deepeyes_agent.checkpoint import CheckpointError, latest, save_atomically


def _write(payload: bytes):
    def write(folder):
        (folder / "weights.bin").write_bytes(payload)

    return write


def test_disk_full_keeps_the_previous_checkpoint(tmp_path):
    save_atomically(tmp_path, _write(b"step-10"), "10")

    def disk_full(folder):
        (folder / "weights.bin").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(CheckpointError, match="checkpoint 10 is intact") as info:
        save_atomically(tmp_path, disk_full, "20")
    assert info.value.errno == errno.ENOSPC
    ckpt = latest(tmp_path)
    assert (ckpt / "COMPLETE").read_text() == "10" and (ckpt / "weights.bin").read_bytes() == b"step-10"
    assert not (tmp_path / ".checkpoint.tmp").exists()  # the partial write was removed
    save_atomically(tmp_path, _write(b"step-30"), "30")  # and the next save works
    assert (latest(tmp_path) / "weights.bin").read_bytes() == b"step-30"


def test_kill_between_the_two_renames_is_repaired(tmp_path):
    save_atomically(tmp_path, _write(b"a"), "1")
    (tmp_path / "checkpoint").rename(tmp_path / ".checkpoint.old")  # as if killed right after the first rename
    assert (latest(tmp_path) / "COMPLETE").read_text() == "1"
