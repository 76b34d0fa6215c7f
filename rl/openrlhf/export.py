"""Rows → OpenRLHF prompt JSONL (``--data.input_key prompt --data.label_key label --data.image_key images``).

Accepted input, one JSON object per line:
- zoom-world / V* / HR-Bench rows (see :mod:`deepeyes_agent.eval.rows`): options are reordered with a
  seed (V* stores the answer first: a policy must not learn "answer A");
- DeepEyes-style rows: ``images`` (list of paths), ``prompt`` (text with ``<image>``, or a chat list whose
  user turn holds it) and ``reward_model.ground_truth`` (or ``answer``): free-form answers.

Output rows: ``prompt`` = the question text (the agent builds the DeepEyes prompt; do not pass
``--data.apply_chat_template``), ``images`` = [absolute path], ``label`` = JSON with the answer (and
``options`` / ``answer_index``). Missing or unreadable images and malformed rows are reported with
their line numbers and left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from deepeyes_agent.eval.rows import RowError, order_options, parse_row, resolve_inside
from deepeyes_agent.images import ImageError, load_image


@dataclass
class ExportReport:
    written: int = 0
    skipped: list[dict] = field(default_factory=list)


def _deepeyes_row(obj: dict, root: Path) -> dict:
    images = obj.get("images")
    if not isinstance(images, list) or not images or not isinstance(images[0], str):
        raise RowError("'images' must be a non-empty list of paths")
    prompt = obj.get("prompt")
    if isinstance(prompt, list):
        users = [m.get("content") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        prompt = users[-1] if users else None
    if not isinstance(prompt, str) or not prompt.replace("<image>", "").strip():
        raise RowError("no question text in 'prompt'")
    truth = (obj.get("reward_model") or {}).get("ground_truth", obj.get("answer"))
    if truth is None or not str(truth).strip():
        raise RowError("no answer: need reward_model.ground_truth or answer")
    path = resolve_inside(root, images[0])
    return {"question": prompt.replace("<image>", "").strip(), "image": path, "label": {"answer": str(truth)}}


def _option_row(obj: dict, line: int, root: Path, order: str, seed: int) -> dict:
    row = order_options(parse_row(obj, line, root), order, seed, line)
    label = {
        "answer": row.options[row.answer_index],
        "options": list(row.options),
        "answer_index": row.answer_index,
        "question": row.question,
        "category": row.category,
    }
    return {"question": row.question, "image": row.image, "label": label}


def export_openrlhf(
    src: str | Path,
    out: str | Path,
    *,
    root: str | Path | None = None,
    order: str = "shuffle",
    seed: int = 0,
    check_images: bool = True,
) -> ExportReport:
    src, out = Path(src), Path(out)
    root = Path(root) if root else src.parent
    report = ExportReport()
    out.parent.mkdir(parents=True, exist_ok=True)
    with src.open() as f, out.open("w") as w:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
                if not isinstance(obj, dict):
                    raise RowError("not a JSON object")
                row = _deepeyes_row(obj, root) if "images" in obj else _option_row(obj, line, root, order, seed)
                if check_images:
                    load_image(row["image"])  # missing, truncated or hostile images fail here, with their path
            except (json.JSONDecodeError, RowError, ImageError, ValueError, TypeError, OSError) as exc:
                report.skipped.append({"line": line, "reason": str(exc)})
                continue
            w.write(
                json.dumps(
                    {
                        "prompt": row["question"],
                        "images": [str(Path(row["image"]).resolve())],
                        "label": json.dumps(row["label"]),
                        "datasource": "deepeyes",
                    }
                )
                + "\n"
            )
            report.written += 1
    return report
