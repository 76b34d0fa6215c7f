"""Experiment trackers as TRL users expect (``--report-to``): every step's metrics — reward parts, per-tool metrics,
weights_moved — reach TensorBoard (its event file read back), W&B (offline: its run folder written) and Trackio
(local), step-aligned with metrics.jsonl."""

from __future__ import annotations

import json

import pytest

from deepeyes_agent.tracking import Trackers

STEPS = [{"step": 1, "reward": 0.5, "tool_calls/zoom": 1.0, "skipped_rows": [{"line": 3}]}, {"step": 2, "reward": 1.5}]


def test_tensorboard_gets_each_steps_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trackers = Trackers(["tensorboard"], tmp_path)
    for record in STEPS:
        trackers.log(record, record["step"])
    trackers.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("reward")] == [(1, 0.5), (2, 1.5)]
    assert [e.step for e in events.Scalars("tool_calls/zoom")] == [1]
    assert "skipped_rows" not in events.Tags()["scalars"]  # not a number: the JSONL keeps it


def test_wandb_offline_writes_its_run_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    trackers = Trackers(["wandb"], tmp_path / "my-run", config={"lr": 1e-6})
    for record in STEPS:
        trackers.log(record, record["step"])
    trackers.close()
    runs = list((tmp_path / "my-run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))  # the run's records, for `wandb sync`


def test_trackio_logs_locally(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKIO_DIR", str(tmp_path / "trackio"))
    import importlib

    import trackio.utils

    importlib.reload(trackio.utils)  # it reads TRACKIO_DIR when imported
    trackers = Trackers(["trackio"], tmp_path / "my-run")
    for record in STEPS:
        trackers.log(record, record["step"])
    trackers.close()
    import trackio

    assert (tmp_path / "trackio" / "deepeyes-agent.db").exists()  # on this machine, nowhere else
    logs = trackio.SQLiteStorage.get_logs(project="deepeyes-agent", run="my-run")
    assert [(row["step"], row["reward"]) for row in logs] == [(1, 0.5), (2, 1.5)]


def test_a_missing_tracker_is_named_with_its_pip_command(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb":
            raise ImportError("No module named 'wandb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    monkeypatch.delitem(__import__("sys").modules, "wandb", raising=False)
    from deepeyes_agent.errors import InputError

    with pytest.raises(InputError, match=r"--report-to wandb needs wandb: pip install 'deepeyes-agent\[wandb\]'"):
        Trackers(["wandb"], "runs/x")


def test_train_reports_to_tensorboard_from_the_command_line(tmp_path):
    """The same metrics as metrics.jsonl, step for step (a one-step GRPO run on the tiny embedded model)."""
    import subprocess
    import sys

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from deepeyes_agent.data.zoomworld import generate

    data = generate(tmp_path / "zw", 2, seed=1)
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "deepeyes_agent.cli", "train", "--data", str(data), "--out", str(out), "--steps", "1",
         "--prompts-per-step", "1", "--rollouts-per-prompt", "2", "--max-new-tokens", "24", "--max-turns", "2",
         "--report-to", "tensorboard", "--threads", "1"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert events.Scalars("reward")[0].step == 1 and events.Scalars("reward")[0].value == pytest.approx(
        record["reward"]
    )
    assert "weights_moved" in events.Tags()["scalars"] and "reward/accuracy" in events.Tags()["scalars"]
