"""A persisted thread survives its process being killed between two turns."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from deepeyes_agent.images import ImageStore
from deepeyes_agent.trajectory import Trajectory

SCRIPT = Path(__file__).with_name("persisted_thread.py")


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_thread_killed_between_turns_resumes_in_a_new_process(tmp_path, tiny_dir, scene_path):
    db, images = tmp_path / "threads.sqlite", tmp_path / "images"
    first = run(db, images, scene_path, tiny_dir, "start", "--kill-after-crops", 1)
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    assert "after crop 1" in first.stdout
    second = run(db, images, scene_path, tiny_dir, "resume")
    assert second.returncode == 0, second.stderr[-2000:]
    traj = Trajectory.model_validate(json.loads(second.stdout.strip().splitlines()[-1]))
    assert traj.answer == "red" and traj.crops == 2 and len(traj.images) == 3
    store = ImageStore(images)
    first_crop, second_crop = (store.get(o.image) for o in traj.observations)
    assert first_crop.size != second_crop.size or list(first_crop.getdata()) != list(second_crop.getdata())
    assert [o.box_model for o in traj.observations] == [[10, 10, 60, 60], [30, 20, 90, 70]]
