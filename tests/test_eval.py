"""deepeyes-agent eval: option order, judging, determinism, bad rows reported, each mode."""

import json
from collections import Counter

import pytest
from conftest import answer, tool_call

from deepeyes_agent.answer_match import chosen_option
from deepeyes_agent.backends import ScriptedBackend
from deepeyes_agent.data.zoomworld import generate
from deepeyes_agent.datasets import load_rows
from deepeyes_agent.eval.runner import EvalConfig, run_eval
from deepeyes_agent.graphs import AgentConfig
from deepeyes_agent.rows import EvalRow, RowError, order_options, resolve_inside


def _row(i: int) -> EvalRow:
    return EvalRow(
        id=str(i), line=i, image=None, question="q", options=("w", "x", "y", "z"), answer_index=0, category="c"
    )


@pytest.mark.parametrize("mode", ["shuffle", "cycle"])
def test_answer_position_is_uniform_over_letters(mode):
    counts = Counter(order_options(_row(i), mode, seed=3, position=i).answer_index for i in range(2000))
    assert set(counts) == {0, 1, 2, 3}
    assert max(counts.values()) - min(counts.values()) < (150 if mode == "shuffle" else 1)


def test_option_order_keeps_the_right_answer():
    for i in range(50):
        row = order_options(_row(i), "shuffle", seed=1, position=i)
        assert row.options[row.answer_index] == "w"
    assert order_options(_row(0), "fixed", 0, 0).answer_index == 0


@pytest.mark.parametrize(
    "prediction, expected",
    [
        ("B", 1),
        ("B.", 1),
        ("(C)", 2),
        ("D. z", 3),
        ("\\boxed{A}", 0),
        ("x", 1),
        ("  Y ", 2),
        ("A red sign", None),
        ("E", None),
        ("", None),
        (None, None),
        ("w or x", None),
    ],
)
def test_option_judge(prediction, expected):
    assert chosen_option(prediction, ["w", "x", "y", "z"]) == expected


@pytest.mark.parametrize(
    "prediction, expected",
    [
        ("The pattern on the red sign is checkerboard.", 1),  # a sentence naming one option (DeepEyes' judge: correct)
        ("vertical stripes", 0),
        ("It has vertical stripes.", 0),  # "stripes" inside "vertical stripes" is no second option
        ("vertical stripes or checkerboard", None),
        ("a checkerboarded sign", None),
        ("stripes", 2),
    ],
)
def test_option_judge_reads_a_sentence_that_names_one_option(prediction, expected):
    assert chosen_option(prediction, ["vertical stripes", "checkerboard", "stripes"]) == expected


def test_bad_rows_are_reported_with_their_line(tmp_path):
    (tmp_path / "ok.png").write_bytes(b"")
    lines = [
        {"image": "ok.png", "question": "q", "options": ["a", "b"], "answer_index": 1},
        {"question": "no image", "options": ["a", "b"]},
        "not json",
        {"image": "../../etc/passwd", "question": "q", "options": ["a", "b"]},
        {"image": "/etc/passwd", "question": "q", "options": ["a", "b"]},
        {"image": "ok.png", "question": "q", "A": "a", "B": "b", "answer": "C"},
    ]
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines))
    rows, skipped = load_rows(data)
    assert [r.line for r in rows] == [1]
    assert [s["line"] for s in skipped] == [2, 3, 4, 5, 6]
    assert "escapes the data root" in skipped[2]["reason"] and "absolute" in skipped[3]["reason"]
    with pytest.raises(RowError, match="rows.jsonl:2"):
        load_rows(data, strict=True)


def test_symlink_out_of_the_root_is_refused(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link.png").symlink_to("/etc/hostname")
    with pytest.raises(RowError, match="escapes"):
        resolve_inside(tmp_path / "root", "link.png")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    path = generate(tmp_path_factory.mktemp("zw"), 8, seed=11)
    lines = path.read_text().splitlines()
    broken = json.loads(lines[0]) | {"id": "broken", "image": "images/missing.png"}
    path.write_text("\n".join(lines + [json.dumps(broken)]) + "\n")
    return path


def test_tool_mode_summary_is_deterministic_and_skips_the_missing_image(bench, processor, store, tmp_path):
    summaries = []
    for k in range(2):  # zoom while only the original is in context, then answer "A"
        backend = ScriptedBackend(
            processor,
            lambda req, turn: (
                tool_call([10, 10, 200, 200])
                if req.prompt_ids.count(processor.tokenizer.convert_tokens_to_ids("<|vision_start|>")) == 1
                else answer("A")
            ),
        )
        cfg = EvalConfig(data=bench, out=tmp_path / f"run{k}", mode="tool", seed=4, concurrency=3, traces=2)
        summaries.append(run_eval(cfg, backend, AgentConfig(), store=store))
    a, b = summaries

    def untimed(run: str) -> list[dict]:  # every field of every row but the tools' measured latencies
        rows = [json.loads(line) for line in (tmp_path / run / "rows.jsonl").read_text().splitlines()]
        return [{**r, "calls": [{**c, "latency_ms": None} for c in r["calls"]]} for r in rows]

    assert untimed("run0") == untimed("run1")
    assert a["tools"]["image_zoom_in_tool"]["calls"] == 8 and a["tools"]["image_zoom_in_tool"]["errors"] == 0
    assert a["n"] == 8 and a["tool_call_rate"] == 1.0 and a["mean_crops"] == 1.0
    assert [s["id"] for s in a["skipped"]] == ["broken"] and "missing.png" in a["skipped"][0]["reason"]
    assert 0 <= a["accuracy"] <= 1 and set(a["per_category"]) <= {"attribute", "relative_position"}
    assert "zoom_hit" in a and "iou_given_crop" in a
    assert json.loads((tmp_path / "run0" / "summary.json").read_text())["n"] == 8
    pages = sorted((tmp_path / "run0" / "traces").glob("*.html"))  # --traces 2: viewer pages of the first rows
    assert len(pages) == 2 and pages[0].read_text().count("<rect") == 1
    assert "_trajectory" not in (tmp_path / "run0" / "rows.jsonl").read_text()


@pytest.mark.parametrize("mode", ["direct", "oracle"])
def test_single_turn_modes_never_zoom(mode, bench, processor, store, tmp_path):
    backend = ScriptedBackend(processor, lambda req, turn: tool_call([10, 10, 200, 200]))
    summary = run_eval(EvalConfig(data=bench, out=tmp_path, mode=mode, samples=2), backend, AgentConfig(), store=store)
    assert summary["n"] == 16 and summary["mean_crops"] == 0 and summary["accuracy"] == 0
    assert "accuracy_std" in summary


def test_ground_mode_scores_boxes(bench, processor, store, tmp_path):
    backend = ScriptedBackend(processor, lambda req, turn: '<answer>{"bbox_2d": [0, 0, 999, 999]}</answer><|im_end|>')
    summary = run_eval(EvalConfig(data=bench, out=tmp_path, mode="ground"), backend, AgentConfig(), store=store)
    assert summary["parsed"] == 1.0 and summary["zoom_hit"] == 1.0 and 0 < summary["iou"] < 1
    assert summary["zoom_hit_tight"] == 0.0  # a box around the whole view is no usable zoom


class ServerDown(ConnectionError):
    pass


def test_eval_resumes_after_the_backend_dies(bench, processor, store, tmp_path):
    """The backend dies after a few rows (as a vLLM server would): finished rows are on disk; --resume
    runs only the rest and the result equals an uninterrupted run."""

    def script(req, turn):
        return answer("A")

    class Dying(ScriptedBackend):
        calls = 0

        async def agenerate(self, request):
            Dying.calls += 1
            if Dying.calls > 3:
                raise ServerDown("http://127.0.0.1:8000/v1: connection refused")
            return await super().agenerate(request)

    cfg = EvalConfig(data=bench, out=tmp_path / "run", mode="tool", seed=1, concurrency=1)
    with pytest.raises(ServerDown, match="127.0.0.1:8000"):
        run_eval(cfg, Dying(processor, script), AgentConfig(), store=store)
    assert len((tmp_path / "run" / "rows.jsonl").read_text().splitlines()) == 3
    with open(tmp_path / "run" / "rows.jsonl", "a") as f:
        f.write('{"id": "torn')  # killed mid-line
    resumed = ScriptedBackend(processor, script)
    summary = run_eval(cfg.model_copy(update={"resume": True}), resumed, AgentConfig(), store=store)
    assert resumed.calls == 5 and summary["n"] == 8
    straight = run_eval(
        cfg.model_copy(update={"out": tmp_path / "straight"}),
        ScriptedBackend(processor, script),
        AgentConfig(),
        store=store,
    )
    assert (tmp_path / "run" / "rows.jsonl").read_text() == (tmp_path / "straight" / "rows.jsonl").read_text()
    assert summary["accuracy"] == straight["accuracy"]


def test_each_row_and_repeat_samples_from_its_own_seed(bench, processor, store, tmp_path):
    """Sampled evaluation (temperature > 0, --samples K): every row of every repeat has its own seed — the same
    on a re-run — so repeats with options in a fixed order are still K samples, not K copies."""

    def seeds_of_a_run(out):
        seen = []
        backend = ScriptedBackend(processor, lambda req, turn: seen.append(req.sampling.seed) or answer("A"))
        config = EvalConfig(data=bench, out=out, mode="tool", samples=2, option_order="fixed", temperature=1.0)
        run_eval(config, backend, AgentConfig(), store=store)
        return sorted(seen)

    first = seeds_of_a_run(tmp_path / "a")
    assert len(first) == 16 and len(set(first)) == 16
    assert seeds_of_a_run(tmp_path / "b") == first
