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
        [sys.executable, *map(str, args)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,  # never a terminal: human_review.py must say so, not wait
        capture_output=True,
        text=True,
        timeout=600,
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


def test_human_review_without_a_terminal_says_how_to_run_it(tmp_path):
    out = run("examples/human_review.py", "--db", tmp_path / "r.sqlite", tmp_path=tmp_path)  # stdin: not a terminal
    assert out.returncode != 0 and "--auto approve | edit | reject" in out.stderr and "Traceback" not in out.stderr


def test_stream_example_shows_every_turn(tmp_path):
    out = run("examples/stream_steps.py", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    turns = [line for line in out.stdout.splitlines() if line.strip().startswith("turn ")]
    assert len(turns) == 2 and "tool_call=None answer=None" not in out.stdout
    assert "answer='diagonal stripes'" in turns[-1]  # the purple sign's texture, read from the crop
