"""A trainer that learns in reduced precision: float32 master weights with bf16 compute move every weight at
DeepEyes' lr 1e-6, where pure bf16 weights barely move (and say so); an out-of-memory keeps the last checkpoint."""

import json

import pytest
import torch
from safetensors.torch import load_file
from test_device import run_cli

from deepeyes_agent.data.zoomworld import generate
from deepeyes_agent.errors import InputError, TrainingOutOfMemory
from deepeyes_agent.models import default_model_dir
from deepeyes_agent.precision import MovedWeights, Precision, PrecisionPolicy
from deepeyes_agent.rl.config import TrainConfig
from deepeyes_agent.rl.trainer import LocalTrainer


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("zw"), 8, seed=3)


def changed_share(start: dict, end: dict) -> float:
    total = sum(v.numel() for v in start.values())
    return sum(int((start[k].to(end[k].dtype) != end[k]).sum()) for k in start) / total


def one_bf16_step(rows, out, monkeypatch, capsys, *extra) -> tuple[dict, dict]:
    monkeypatch.setenv("DEEPEYES_AGENT_IMAGE_STORE", str(out.parent / "images"))
    code, err = run_cli(
        monkeypatch, capsys, "train", "--data", rows, "--out", out, "--dtype", "bfloat16", "--lr", "1e-6",
        "--steps", "1", "--prompts-per-step", "2", "--rollouts-per-prompt", "4", "--max-new-tokens", "64",
        "--threads", "1", *extra,
    )  # fmt: skip
    assert code in (0, None), err
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["trained_trajectories"] > 0  # the step had something to learn
    return load_file(str(out / "checkpoint" / "model.safetensors")), record


def test_a_bf16_step_at_lr_1e6_changes_almost_every_weight(rows, tmp_path, monkeypatch, capsys):
    """``train --dtype bfloat16 --lr 1e-6 --steps 1`` on the embedded model: float32 master weights, bf16 autocast."""
    start = load_file(str(default_model_dir() / "model.safetensors"))
    end, record = one_bf16_step(rows, tmp_path / "mixed", monkeypatch, capsys)
    assert all(t.dtype is torch.float32 for t in end.values())  # the checkpoint holds the master weights
    assert changed_share(start, end) >= 0.9
    assert record["weights_moved"] >= 0.9


def test_pure_bf16_weights_barely_move_and_the_run_says_so(rows, tmp_path, monkeypatch, capsys):
    start = load_file(str(default_model_dir() / "model.safetensors"))
    with pytest.warns(UserWarning, match="no float32 master copy"):
        end, record = one_bf16_step(rows, tmp_path / "pure", monkeypatch, capsys, "--precision", "pure")
    assert changed_share(start, end) < 0.1 and record["weights_moved"] < 0.1


def test_the_policy_autocasts_only_below_float32():
    cpu = torch.device("cpu")
    mixed = PrecisionPolicy(Precision.MIXED, cpu, torch.bfloat16)
    assert mixed.trained is torch.float32 and mixed.autocasts and not mixed.scaling
    assert not PrecisionPolicy(Precision.MIXED, cpu, torch.float32).autocasts
    assert not PrecisionPolicy(Precision.PURE, cpu, torch.bfloat16).autocasts  # weights already bf16
    assert PrecisionPolicy(Precision.MIXED, cpu, torch.float16).scaling  # float16 scales its loss
    layer = torch.nn.Linear(64, 64)
    with mixed.autocast():
        assert layer(torch.ones(2, 64)).dtype is torch.bfloat16


def test_moved_weights_counts_what_a_step_changed():
    params = [torch.nn.Parameter(torch.randn(100, 50)), torch.nn.Parameter(torch.randn(30))]
    moved = MovedWeights(params, n=1000)
    before = moved.snapshot()
    with torch.no_grad():
        params[0][:50] += 1.0  # half of the first tensor
    assert 0.35 < moved.share(before) < 0.65


def test_pure_float16_training_is_refused(rows, tmp_path):
    with pytest.raises(InputError, match="float16 weights under AdamW"):
        LocalTrainer(TrainConfig(data=rows, out=tmp_path, dtype="float16", precision="pure"))


def test_out_of_memory_keeps_the_last_checkpoint_and_names_what_to_lower(tiny_dir, rows, tmp_path, monkeypatch, capsys):
    """An out-of-memory in step 2's update: the run stops with one line naming the settings to lower, the
    checkpoint of step 1 is intact, and --resume continues from it."""
    out = tmp_path / "run"
    monkeypatch.setenv("DEEPEYES_AGENT_IMAGE_STORE", str(tmp_path / "images"))
    update = LocalTrainer.update

    def oom_at_step_2(self, episodes, advantages=None):
        if (out / "checkpoint" / "COMPLETE").exists():
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return update(self, episodes, advantages)

    monkeypatch.setattr(LocalTrainer, "update", oom_at_step_2)
    args = ["train", "--data", rows, "--out", out, "--model", tiny_dir, "--steps", "2", "--save-every", "1",
            "--prompts-per-step", "2", "--rollouts-per-prompt", "2", "--max-new-tokens", "8", "--threads", "1"]  # fmt: skip
    code, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and err.count("\n") == 1, err
    assert "out of memory" in err and "update of step 2" in err and "--micro-batch (now 8)" in err
    assert "--lora-rank" in err and "checkpoint 1" in err and "--resume" in err
    assert (out / "checkpoint" / "COMPLETE").read_text() == "1"
    monkeypatch.setattr(LocalTrainer, "update", update)
    code, err = run_cli(monkeypatch, capsys, *args, "--resume")
    assert code in (0, None), err
    assert (out / "checkpoint" / "COMPLETE").read_text() == "2"
    assert issubclass(TrainingOutOfMemory, InputError)
