"""The examples run as written on the embedded model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts processes or servers

ROOT = Path(__file__).resolve().parent.parent


def run(*args, tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
        "HOME": str(tmp_path),
        "DEEPEYES_AGENT_IMAGE_STORE": str(tmp_path / "img"),
    }
    return subprocess.run(
        [sys.executable, *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_human_review_example_edits_the_box(tmp_path):
    out = run("examples/human_review.py", "--auto", "edit", "--db", tmp_path / "r.sqlite", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "zoom edited" in out.stdout
    assert json.loads(out.stdout.strip().splitlines()[-1])["crops"] >= 1


def test_stream_example_prints_turns_and_zooms(tmp_path):
    out = run("examples/stream_steps.py", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "[node] prepare" in out.stdout and "turn 1:" in out.stdout


def test_custom_tool_example_lists_both_tools_and_runs_the_grid(tmp_path):
    out = run("examples/custom_tool.py", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert '"name":"grid_overlay"' in out.stdout and '"name":"image_zoom_in_tool"' in out.stdout
    assert "grid_overlay called directly: an image of 1177x1454 px" in out.stdout and "answer:" in out.stdout
