"""``deepeyes-agent ask`` end to end on the tiny model, and the runnable examples."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deepeyes_agent.cli import app

ROOT = Path(__file__).resolve().parent.parent
STREET = ROOT / "examples" / "images" / "street.png"


def test_ask_prints_turns_and_saves_a_trace(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPEYES_AGENT_IMAGE_STORE", str(tmp_path / "images"))
    result = CliRunner().invoke(
        app,
        [
            "ask",
            str(STREET),
            "What shape is the mark on the blue sign?",
            "--model",
            str(tiny_dir),
            "-o",
            "triangle",
            "-o",
            "circle",
            "--max-new-tokens",
            "16",
            "--save-trace",
            str(tmp_path / "trace.png"),
            "--save-json",
            str(tmp_path / "trace.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "turn 1" in result.output and "stop:" in result.output
    assert (tmp_path / "trace.png").stat().st_size > 1000
    traj = json.loads((tmp_path / "trace.json").read_text())
    assert traj["turns"] >= 1 and traj["options"] == ["triangle", "circle"]


def test_ask_rejects_a_missing_image(tiny_dir):
    result = CliRunner().invoke(app, ["ask", "/nonexistent.png", "q", "--model", str(tiny_dir)])
    assert result.exit_code != 0 and "does not exist" in result.output


def _run_example(name: str, tmp_path: Path) -> str:
    env = {
        **os.environ,
        "DEEPEYES_AGENT_HOME": str(tmp_path / "home"),
        "DEEPEYES_AGENT_IMAGE_STORE": str(tmp_path / "images"),
    }
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.slow
def test_example_ask_runs_on_the_default_model(tmp_path):
    stdout = _run_example("ask.py", tmp_path)
    assert "answer:" in stdout and (tmp_path / "out" / "ask_trace.png").exists()


@pytest.mark.slow
def test_example_workflow_runs_on_the_default_model(tmp_path):
    stdout = _run_example("embed_in_workflow.py", tmp_path)
    assert "[visual_agent] policy" in stdout and "report: Text agent" in stdout


def test_train_help_shows_every_config_field_once_with_its_description():
    """The command line is generated from TrainConfig: one flag per field (nested ones prefixed), described once."""
    import re

    from deepeyes_agent.cli.options import config_parameters
    from deepeyes_agent.rl.config import TrainConfig

    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    assert result.exit_code == 0
    flags = re.findall(r"--[a-z][a-z0-9-]+", result.output)
    for path, param, _ in config_parameters(TrainConfig):
        flag = "--" + param.name.replace("_", "-")
        assert flags.count(flag) == 1, flag
        field = TrainConfig.model_fields[path[0]]
        description = field.description if len(path) == 1 else field.annotation.model_fields[path[1]].description
        assert description and description.split(" (")[0][:30] in " ".join(result.output.split()), flag
