"""README contract: two set-up commands (the first installs only what `ask` needs, CI runs the second), a short
README whose code runs as written, and the same answer on every run."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.DOTALL)


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DEEPEYES_AGENT_HOME": str(tmp_path / "home"),
        "DEEPEYES_AGENT_IMAGE_STORE": str(tmp_path / "img"),
    }
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_ci_runs_the_readme_test_command():
    test_command = _blocks("bash")[1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert any(line.split("#")[0].strip() == test_command for line in ci.splitlines())
    assert "pytest" in test_command and "scripts/install.sh" in test_command  # it installs the rest, then tests


def test_the_first_command_installs_only_what_ask_needs():
    first = _blocks("bash")[0]
    assert "scripts/install.sh core" in first and "deepeyes-agent ask" in first
    core = subprocess.run(["bash", str(ROOT / "scripts" / "install.sh"), "core", "--dry-run"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    assert "torch==2.13.0" in core and "vllm" not in core and "openrlhf" not in core


def test_the_readme_is_a_front_door():
    assert len(README.splitlines()) <= 200
    for link in re.findall(r"\]\((docs/[\w-]+\.md)\)", README):
        assert (ROOT / link).exists(), link


@pytest.mark.slow
def test_the_readme_code_runs_and_answers_the_same_every_time(tmp_path):
    """Every python block, in order; the quick start three times more: greedy decoding, one answer."""
    quick_start = _blocks("python")[0]
    code = (
        "\n".join(_blocks("python"))
        + "\nfor _ in range(3):\n"
        + "\n".join("    " + line for line in quick_start.splitlines())
    )
    out = _run(code, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "checkerboard 2 1 answer" and lines[1] == "above"
    assert lines[2:] == [lines[0]] * 3
