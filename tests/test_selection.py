"""Tool-use-oriented selection: which rows are kept, and why."""

import json

import pytest
from conftest import answer

from deepeyes_agent.backends import ScriptedBackend
from deepeyes_agent.data.zoomworld import generate
from deepeyes_agent.graphs import AgentConfig
from deepeyes_agent.rl.selection import SelectConfig, decide, select


@pytest.mark.parametrize(
    "direct, crop, keep, why",
    [
        (0.25, 1.0, True, "tool benefit"),
        (0.5, 0.5, True, "mid difficulty"),
        (1.0, 1.0, False, "always right without the tool"),
        (0.0, 0.1, False, "always wrong, and the crop does not help enough"),
        (0.0, None, False, "always wrong without the tool (no box to test a crop)"),
    ],
)
def test_decide(direct, crop, keep, why):
    assert decide(direct, crop, SelectConfig(data="x", out="y")) == (keep, why)


def test_select_keeps_rows_a_crop_makes_answerable(tmp_path, processor, store, monkeypatch):
    monkeypatch.setenv("DEEPEYES_AGENT_IMAGE_STORE", str(tmp_path / "img"))
    data = generate(tmp_path / "zw", 6, seed=9)
    raw = [json.loads(line) for line in data.read_text().splitlines()]
    for i, r in enumerate(raw):
        r["question"] += f" (row {i})"  # unique questions let the script recognise its row
    data.write_text("".join(json.dumps(r) + "\n" for r in raw))
    rows = {r["question"]: r for r in raw}

    def script(request, turn):
        # answers right only when the image is the ground-truth crop, wrong on the full view
        text = processor.tokenizer.decode(request.prompt_ids)
        row = next(r for q, r in rows.items() if q in text)
        letters = text.split("Options: \n")[1]
        right = next(line[0] for line in letters.splitlines() if line[3:] == row["options"][row["answer_index"]])
        wrong = next(line[0] for line in letters.splitlines() if line and line[1:3] == ". " and line[0] != right)
        is_crop = request.images[0].size != (row["extra"]["scene"]["width"], row["extra"]["scene"]["height"])
        return answer(right if is_crop else wrong)

    report = select(
        SelectConfig(data=data, out=tmp_path / "sel", k=2), ScriptedBackend(processor, script), AgentConfig()
    )
    assert report["rows"] == 6 and report["kept"] == 6 and report["reasons"] == {"tool benefit": 6}
    assert len((tmp_path / "sel" / "kept.jsonl").read_text().splitlines()) == 6
