"""Rows → what OpenRLHF's prompt dataset reads (``--data.input_key``, ``--data.label_key``, ``--data.image_key``).

Any dataset :mod:`deepeyes_agent.datasets` reads. A DeepEyes-47k parquet stays a parquet: its tool rows are
written with their columns intact (OpenRLHF reads ``prompt``, ``reward_model`` and ``images`` straight from it, and
the agent file knows that layout). Everything else becomes a JSONL: ``prompt`` = the question text (the agent builds
the DeepEyes prompt; do not pass ``--data.apply_chat_template``), ``images`` = [absolute path] (a table's encoded
images are written, as they are, next to the JSONL), ``label`` = JSON with the answer (and ``options`` /
``answer_index``; multiple-choice options are reordered with a seed: V* stores the answer first). Unusable rows
(and, with ``check_images``, images that do not decode) are reported with their row numbers and left out.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from deepeyes_agent.datasets import Skipped, open_dataset
from deepeyes_agent.images import ImageError, load_image
from deepeyes_agent.rows import EvalRow, order_options


@dataclass
class ExportReport:
    path: Path | None = None
    written: int = 0
    skipped: list[dict] = field(default_factory=list)
    input_key: str = "prompt"
    label_key: str = "label"


def _label(row: EvalRow) -> str:
    label = {"answer": row.truth_text, "question": row.extra.get("judge_question", row.question.strip())}
    if row.options is not None:
        label.update(options=list(row.options), answer_index=row.answer_index, category=row.category)
    return json.dumps(label)


def _image_file(row: EvalRow, folder: Path) -> Path:
    """A table row's encoded image, written as it is (no re-encoding) under ``folder``."""
    data = row.image.data
    data = base64.b64decode(data) if isinstance(data, str) else data
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        suffix = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}.get(img.format or "", ".img")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"row_{row.line:07d}{suffix}"
    path.write_bytes(data)
    return path


def export_openrlhf(
    src: str | Path,
    out: str | Path,
    *,
    root: str | Path | None = None,
    order: str = "shuffle",
    seed: int = 0,
    check_images: bool = True,
) -> ExportReport:
    dataset = open_dataset(src, root)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if dataset.format == "deepeyes-parquet":
        return _export_parquet(dataset, out.with_suffix(".parquet"))
    report = ExportReport(path=out)
    images = out.parent / f"{out.stem}_images"
    with out.open("w") as w:
        for row in dataset.rows(stream=True):
            if isinstance(row, Skipped):
                report.skipped.append({"line": row.line, "reason": row.reason})
                continue
            try:
                if not row.tool:
                    raise ValueError("no tool env (env_name): DeepEyes trains this row without the tool")
                row = order_options(row, order, seed, row.line)
                if isinstance(row.image, Path):
                    path = row.image
                    if check_images:
                        load_image(path)  # missing, truncated or hostile images fail here, with their path
                else:
                    if check_images:
                        row.image.load()
                    path = _image_file(row, images)
            except (ImageError, ValueError, OSError) as exc:
                report.skipped.append({"line": row.line, "reason": str(exc)})
                continue
            record = {"prompt": row.question.strip(), "images": [str(path.resolve())], "label": _label(row)}
            w.write(json.dumps({**record, "datasource": "deepeyes"}) + "\n")
            report.written += 1
    return report


def _export_parquet(dataset, out: Path) -> ExportReport:
    """The usable rows of a DeepEyes-47k parquet, columns intact."""
    report = ExportReport(path=out, label_key="reward_model")
    keep = set()
    for row in dataset.rows(stream=False):
        if isinstance(row, Skipped):
            report.skipped.append({"line": row.line, "reason": row.reason})
        elif not row.tool:
            report.skipped.append({"line": row.line, "reason": "no tool env (env_name): trained without the tool"})
        else:
            keep.add(row.line)
    dataset.write_subset(keep, out)
    report.written = len(keep)
    return report
