"""``benchmarks/openrlhf_gpu.sh`` (a one-GPU OpenRLHF run, not runnable here): its shell parses, its dry run writes
the rows and prints a one-GPU colocated ``train_ppo_ray`` command, and its report tells a weight sync that landed
from one that did not."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "openrlhf_gpu.sh"
sys.path.insert(0, str(ROOT / "benchmarks"))

from openrlhf_gpu_report import main, report  # noqa: E402

LOG = """(PPOTrainer pid=1) ✨ Global step 1: {'policy_loss': 0.1, 'timing/make_experience': 3.5, 'timing/ppo_train': 6.0, 'timing/broadcast': 0.8, 'timing/generation': 20.1, 'timing/step_total': 30.4}
(PPOTrainer pid=1) ✨ Global step 2: {'policy_loss': -0.2, 'timing/make_experience': 3.1, 'timing/ppo_train': 5.2, 'timing/broadcast': 0.7, 'timing/generation': 12.0, 'timing/step_total': 21.0}
"""


def _fingerprints(*sums):
    return [
        json.dumps({"time": t, "pid": 7, "sum": s, "numel": 10, "dtype": "bfloat16", "ranks": 1})
        for t, s in enumerate(sums)
    ]


def test_the_script_parses():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0


def test_the_report_reads_step_times_and_needs_new_weights_after_a_sync():
    good = report(LOG, _fingerprints(1.5, 1.5, 1.25, 1.25), steps=2)
    assert good["ok"] and good["problems"] == []
    assert [s["step_total_s"] for s in good["steps"]] == [30.4, 21.0] and good["steps"][0]["broadcast_s"] == 0.8
    assert [v["episodes"] for v in good["engine_weights"]] == [2, 2]
    silent = report(LOG, _fingerprints(1.5, 1.5, 1.5, 1.5), steps=2)  # the sync no-oped: step 2 rolled out old weights
    assert not silent["ok"] and "did not land" in silent["problems"][0]
    assert not report(LOG.splitlines()[0], _fingerprints(1.5, 1.25), steps=2)["ok"]  # one step of two


def test_the_report_exits_1_when_the_weights_never_changed(tmp_path, capsys):
    (tmp_path / "train.log").write_text(LOG)
    (tmp_path / "w.jsonl").write_text("\n".join(_fingerprints(2.0, 2.0)) + "\n")
    assert main(["--log", str(tmp_path / "train.log"), "--weights", str(tmp_path / "w.jsonl"), "--steps", "2"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_the_dry_run_prints_a_one_gpu_colocated_run(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path / "out"), "DRY_RUN": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # this venv's deepeyes-agent
    out = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    command = out.stdout.replace("\\\n", " ")
    for flag in ("--actor.num_gpus_per_node 1", "--vllm.num_engines 1", "--train.colocate_all", "--vllm.enable_sleep",
                 "--rollout.batch_size 4", "--train.batch_size 16", "--actor.adam.lr 1e-05"):  # fmt: skip
        assert flag in command, flag
    rows = (tmp_path / "out" / "data" / "zoomworld.jsonl").read_text().splitlines()
    assert len(rows) == 8  # two steps of 4 prompts: train_ppo_ray makes one pass over the rows
