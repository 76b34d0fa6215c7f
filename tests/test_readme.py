"""README contract: CI runs the README's test command, and the quick-start code runs as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.DOTALL)


def test_ci_runs_the_readme_test_command():
    test_command = _blocks("bash")[1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert any(line.split("#")[0].strip() == test_command for line in ci.splitlines())


def test_quick_start_runs(tmp_path):
    code = _blocks("python")[0]
    env = {**os.environ, "DEEPEYES_AGENT_HOME": str(tmp_path / "home"), "DEEPEYES_AGENT_IMAGE_STORE": str(tmp_path / "img")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
