"""``deepeyes-agent ask`` end to end on the tiny model, and the runnable examples."""

import json
import os
import re
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


HEAVY = ("torch", "transformers", "vllm", "langgraph", "openai", "pyarrow", "pandas", "matplotlib")


@pytest.mark.slow
def test_help_is_fast_because_nothing_heavy_is_imported_for_it():
    """``--help`` of every command imports none of the heavy packages (they load in the command's body): measured in a
    fresh interpreter, which prints what it imported and how long the help took."""
    commands = [
        [],
        ["ask"],
        ["eval"],
        ["train"],
        ["select"],
        ["pretrain"],
        ["view"],
        ["serve-model"],
        ["openrlhf", "train"],
    ]
    code = (
        "import sys, time, io, contextlib\n"
        "t = time.perf_counter()\n"
        "from deepeyes_agent.cli import app\n"
        "from typer.testing import CliRunner\n"
        f"for args in {commands!r}:\n"
        "    assert CliRunner().invoke(app, [*args, '--help']).exit_code == 0, args\n"
        f"print(time.perf_counter() - t, [m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    seconds, imported = out.stdout.split(" ", 1)
    print(f"--help of {len(commands)} commands: {float(seconds):.2f} s")
    assert imported.strip() == "[]"


@pytest.mark.parametrize("command", ["ask", "eval", "train", "serve-model", "view"])
def test_help_reads_at_80_columns(command):
    """Every flag's whole name is there (none cut to ``--served-model…``), no ``<bool>`` on on/off flags."""
    import typer.main

    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0 and "<bool>" not in result.output
    shown = set(re.findall(r"--[a-z][a-z0-9-]+", result.output))
    declared = {o for p in typer.main.get_command(app).commands[command].params for o in p.opts if o.startswith("--")}
    assert declared <= shown, sorted(declared - shown)
    assert max(len(line) for line in result.output.splitlines()) <= 80


def test_ask_names_its_arguments():
    result = CliRunner().invoke(app, ["ask", "--help"], env={"COLUMNS": "80"})
    assert "ask [OPTIONS] IMAGE QUESTION" in result.output


def test_inference_is_greedy_unless_asked_to_sample():
    from deepeyes_agent.eval.runner import EvalConfig
    from deepeyes_agent.graphs import AgentConfig

    assert AgentConfig().sampling.temperature == 0.0 and EvalConfig(data="d", out="o").temperature == 0.0


def test_the_embedded_model_says_what_it_knows(tmp_path, monkeypatch, capsys):
    from test_device import run_cli

    monkeypatch.setenv("DEEPEYES_AGENT_IMAGE_STORE", str(tmp_path / "images"))
    code, err = run_cli(
        monkeypatch, capsys, "ask", STREET, "What shape is the mark on the blue sign?", "--max-new-tokens", "32"
    )
    assert code in (0, None) and "does not look like zoom-world" in err and "--model" in err
    code, err = run_cli(
        monkeypatch,
        capsys,
        "ask",
        ROOT / "examples/images/signs.png",
        "What pattern is on the orange sign?",
        "--max-new-tokens",
        "64",
    )
    assert code in (0, None) and "zoom-world" not in err


def test_an_answer_outside_the_options_is_flagged():
    from deepeyes_agent.cli.inference import off_options_note

    assert off_options_note("vertical stripes", ["checkerboard", "dots"]) == (
        "the answer 'vertical stripes' is none of the options (checkerboard, dots)"
    )
    assert off_options_note("B", ["checkerboard", "dots"]) is None and off_options_note("dots", []) is None


@pytest.mark.parametrize(
    "kind, config, says",
    [
        ("unknown model_type", '{"model_type": "bert"}', "model_type 'bert' is not a vision-language model"),
        ("malformed config", '{"model_type": "qwen2_5_vl",', "config.json is not valid JSON"),
        ("no weights", '{"model_type": "qwen2_5_vl"}', "no weights"),
    ],
)
def test_a_bad_model_folder_is_one_line_and_exit_2(kind, config, says, tmp_path, monkeypatch, capsys):
    from test_device import run_cli

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(config)
    code, err = run_cli(monkeypatch, capsys, "ask", ROOT / "examples/images/signs.png", "q", "--model", folder)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), (kind, err)
    assert says in err and str(folder) in err


def test_openrlhf_export_says_where_it_wrote(tmp_path):
    """A DeepEyes-47k parquet in, a parquet out (every column intact): the message names the file written."""
    from real_formats import write_deepeyes

    data = write_deepeyes(tmp_path / "data_0.1.2_visual_toolbox_v2.parquet", n=3, bad_row=False, math_row=False)
    result = CliRunner().invoke(app, ["openrlhf", "export", str(data), str(tmp_path / "prompts.jsonl")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "prompts.parquet").exists() and not (tmp_path / "prompts.jsonl").exists()
    assert f"rows to {tmp_path / 'prompts.parquet'}" in " ".join(result.output.split())
