"""The real DeepEyes workflow on files in the exact layouts the datasets are distributed in (tests/real_formats.py):
read with no conversion step, bad rows reported by row number, and eval / select / train / OpenRLHF export run on
each. Images are decoded only when their episode starts."""

import json

import pyarrow.parquet as pq
import pytest
from real_formats import write_deepeyes, write_hrbench, write_lmms_vstar, write_vstar_folder
from typer.testing import CliRunner

from deepeyes_agent.cli import app
from deepeyes_agent.datasets import Skipped, load_rows, open_dataset


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    return {
        "vstar": write_vstar_folder(root / "vstar_bench"),
        "hr_tsv": write_hrbench(root / "hr" / "hr_bench_4k.tsv"),
        "hr_parquet": write_hrbench(root / "hrp" / "hr_bench_8k.parquet"),
        "lmms": write_lmms_vstar(root / "lmms" / "vstar.parquet"),
        "deepeyes": write_deepeyes(root / "deepeyes" / "data_0.1.2_visual_toolbox_v2.parquet"),
    }


def test_the_format_is_told_by_the_path(files):
    formats = {name: open_dataset(path).format for name, path in files.items()}
    assert formats == {
        "vstar": "vstar-folder",
        "hr_tsv": "hrbench-tsv",
        "hr_parquet": "hrbench-parquet",
        "lmms": "vstar-parquet",
        "deepeyes": "deepeyes-parquet",
    }


def test_vstar_folder_rows_have_corner_boxes_the_answer_first_and_their_folder_as_category(files):
    rows, skipped = load_rows(files["vstar"])
    assert len(rows) == 6 and not skipped
    meta = json.loads((files["vstar"] / rows[0].id).with_suffix(".json").read_text())
    x, y, w, h = meta["bbox"][0]
    assert rows[0].bbox == (x, y, x + w, y + h) and rows[0].answer_index == 0
    assert {r.category for r in rows} <= {"direct_attributes", "relative_position"}


def test_hrbench_rows_keep_their_rotation_group(files):
    for key in ("hr_tsv", "hr_parquet"):
        rows, _ = load_rows(files[key])
        assert len(rows) == 12 and len({r.group for r in rows}) == 3
        assert all(r.options[r.answer_index] == rows[4 * (i // 4)].truth_text for i, r in enumerate(rows))


def test_deepeyes_rows_are_free_form_with_their_tool_flag_and_bad_rows_are_reported(files):
    rows, skipped = load_rows(files["deepeyes"])
    assert len(rows) == 8 and not skipped  # the broken image is only found when its episode starts
    assert sum(not r.tool for r in rows) == 1 and all(r.options is None for r in rows)
    tool_row = next(r for r in rows if r.tool)
    assert tool_row.question.startswith("\nWhat") or tool_row.question.startswith("\nIs")
    assert "Think first" not in tool_row.question  # DeepEyes' suffix is added back by the prompt builder
    streamed = list(open_dataset(files["deepeyes"]).rows(stream=True))
    assert sum(isinstance(r, Skipped) for r in streamed) == 0
    broken = [r for r in streamed if not isinstance(r, Skipped) and r.image.data == b"not an image"]
    with pytest.raises(Exception, match="row"):
        broken[0].image.load()


def test_lmms_vstar_parquet_splits_question_and_options(files):
    rows, _ = load_rows(files["lmms"])
    assert len(rows) == 4 and all("(A)" not in r.question and len(r.options) in (2, 4) for r in rows)


def _eval(args, tiny_dir, tmp_path):
    result = CliRunner().invoke(
        app,
        ["eval", *args, "--model", str(tiny_dir), "--max-new-tokens", "8", "--max-turns", "2", "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / "summary.json").read_text())


def test_eval_reports_hrbench_category_mean_and_cycle_consistency(files, tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPEYES_AGENT_IMAGE_STORE", str(tmp_path / "img"))
    for key in ("hr_tsv", "hr_parquet"):
        summary = _eval(["--data", str(files[key]), "--option-order", "fixed"], tiny_dir, tmp_path / key)
        assert summary["n"] == 12 and set(summary["per_category"]) == {"single", "cross"}
        assert summary["category_mean"] == pytest.approx(sum(summary["per_category"].values()) / 2)
        assert summary["cycle_groups"] == 3 and 0 <= summary["cycle_consistent"] <= summary["accuracy"]


def test_eval_runs_on_the_vstar_folder_and_the_lmms_parquet(files, tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPEYES_AGENT_IMAGE_STORE", str(tmp_path / "img"))
    folder = _eval(["--data", str(files["vstar"])], tiny_dir, tmp_path / "folder")
    assert folder["n"] == 6 and set(folder["per_category"]) <= {"direct_attributes", "relative_position"}
    assert _eval(["--data", str(files["lmms"])], tiny_dir, tmp_path / "lmms")["n"] == 4


def test_select_writes_a_parquet_with_every_column_and_train_takes_it(files, tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPEYES_AGENT_IMAGE_STORE", str(tmp_path / "img"))
    runner = CliRunner()
    out = tmp_path / "select"
    result = runner.invoke(
        app,
        [
            "select",
            "--data",
            str(files["deepeyes"]),
            "--out",
            str(out),
            "--model",
            str(tiny_dir),
            "--k",
            "2",
            "--min-accuracy",
            "-1",
            "--judge",
            "exact",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert any("row" in s["reason"] for s in report["skipped_rows"])  # the broken image, by row
    kept = pq.read_table(out / "kept.parquet")
    assert kept.schema.equals(pq.read_schema(files["deepeyes"]), check_metadata=False)
    assert kept.num_rows == report["kept"] > 0
    # free-form answers need a judge that can read them: no silent zeros
    refused = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(out / "kept.parquet"),
            "--out",
            str(tmp_path / "r0"),
            "--model",
            str(tiny_dir),
            "--steps",
            "1",
        ],
    )
    assert refused.exit_code != 0 and "free-form" in str(refused.exception)
    trained = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(files["deepeyes"]),
            "--out",
            str(tmp_path / "rl"),
            "--model",
            str(tiny_dir),
            "--steps",
            "1",
            "--prompts-per-step",
            "8",
            "--rollouts-per-prompt",
            "2",
            "--max-new-tokens",
            "8",
            "--judge",
            "exact",
            "--threads",
            "1",
        ],
    )
    assert trained.exit_code == 0, trained.output
    metrics = [json.loads(t) for t in (tmp_path / "rl" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == 1 and metrics[-1]["skipped_rows"][0]["reason"].count("row") >= 1


@pytest.mark.parametrize("key", ["vstar", "hr_tsv", "hr_parquet", "lmms", "deepeyes"])
def test_openrlhf_export_reads_each_format(files, key, tmp_path):
    from deepeyes_agent.rl.openrlhf.export import export_openrlhf

    report = export_openrlhf(files[key], tmp_path / "prompts.jsonl", check_images=key != "deepeyes")
    if key == "deepeyes":  # stays a parquet, columns intact, tool rows only
        assert report.path.suffix == ".parquet" and report.label_key == "reward_model"
        assert pq.read_table(report.path).num_rows == report.written == 7
        return
    rows = [json.loads(t) for t in report.path.read_text().splitlines()]
    assert len(rows) == report.written > 0 and all(len(r["images"]) == 1 for r in rows)
    assert all(open(r["images"][0], "rb").read(2) in (b"\xff\xd8", b"\x89P") for r in rows)  # written as they were


def test_reading_an_8k_hrbench_tsv_holds_a_few_images_at_most(tmp_path):
    """64 rows of 7680×4320 JPEGs: reading every row and decoding its image one after another keeps the peak
    RSS growth under ~4 decoded images (100 MB each)."""
    import subprocess
    import sys

    from real_formats import hrbench_frame

    frame = hrbench_frame(tmp_path, questions=16, seed=3, size=(7680, 4320))
    frame.to_csv(tmp_path / "hr_bench_8k.tsv", sep="\t", index=False)
    code = f"""
import resource
from deepeyes_agent.datasets import open_dataset, Skipped
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n = 0
for row in open_dataset({str(tmp_path / "hr_bench_8k.tsv")!r}).rows():
    assert not isinstance(row, Skipped), row
    image = row.image.load()
    assert image.size == (7680, 4320)
    n += 1
print(n, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    n, growth_mb = out.stdout.split()
    decoded_mb = 7680 * 4320 * 3 / 2**20
    print(f"64 rows of 8K: peak RSS growth {float(growth_mb):.0f} MB (one decoded image: {decoded_mb:.0f} MB)")
    assert int(n) == 64 and float(growth_mb) < 4 * decoded_mb
