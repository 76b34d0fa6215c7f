"""V* Bench (``craigwu/vstar_bench``) as distributed: a folder, or lmms-lab's single parquet.

The folder: ``direct_attributes/`` (115 items, 4 options) and ``relative_position/`` (76 items, 2 options); each
item is ``sa_<id>.jpg`` + ``sa_<id>.json`` = ``{"target_object": [...], "bbox": [[x, y, w, h], ...], "question",
"options"}``. ``bbox`` is x, y, width, height in original pixels (one per target object; a single flat box is
accepted too); the correct option is ``options[0]``; the category is the folder's name. Other folders
(``GPT4V-hard/``, ``OCR/``) are left out unless named in ``categories``.

lmms-lab's parquet (``lmms-lab/vstar-bench``): ``image`` as ``{bytes, path}``, ``text`` = the question, then
``(A) …`` option lines and an instruction line; ``label`` the letter; ``category``; ``question_id``. No boxes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from ..images import ImageError
from ..rows import EvalRow, RowError
from .jsonl import check_options, letter_index
from .sources import parquet_rows

CATEGORIES = ("direct_attributes", "relative_position")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
PARQUET_COLUMNS = ("text", "label", "image")
_OPTION_LINE = re.compile(r"^\(([A-F])\)\s*(.*)$")


def is_vstar_folder(path: Path) -> bool:
    return path.is_dir() and any((path / c).is_dir() for c in CATEGORIES)


def _items(root: Path, categories) -> list[tuple[str, Path]]:
    return [(c, p) for c in categories if (root / c).is_dir() for p in sorted((root / c).glob("*.json"))]


def count_folder(root: Path, categories=CATEGORIES) -> int:
    return len(_items(root, categories))


def xywh_boxes(raw) -> list[tuple[float, float, float, float]]:
    """V*'s ``bbox`` ([[x, y, w, h], ...] or one flat [x, y, w, h]) as (x1, y1, x2, y2) boxes."""
    if not isinstance(raw, list) or not raw:
        return []
    boxes = raw if isinstance(raw[0], list) else [raw]
    out = []
    for b in boxes:
        if not isinstance(b, list) or len(b) != 4 or not all(isinstance(v, (int, float)) for v in b):
            raise RowError(f"bbox must be [x, y, w, h] (or a list of them), got {raw!r}")
        x, y, w, h = (float(v) for v in b)
        out.append((x, y, x + w, y + h))
    return out


def read_folder(root: Path, categories=CATEGORIES) -> Iterator[EvalRow | tuple[int, str]]:
    for line, (category, meta) in enumerate(_items(root, categories), 1):
        try:
            obj = json.loads(meta.read_text())
            image = next((meta.with_suffix(s) for s in IMAGE_SUFFIXES if meta.with_suffix(s).is_file()), None)
            if image is None:
                raise RowError(f"{meta.relative_to(root)}: no image beside it ({'/'.join(IMAGE_SUFFIXES)})")
            options = tuple(str(o) for o in obj.get("options") or [])
            if not isinstance(obj.get("question"), str) or not obj["question"]:
                raise RowError(f"{meta.relative_to(root)}: missing question")
            check_options(options, 0)
            boxes = xywh_boxes(obj.get("bbox"))
            targets = obj.get("target_object") or []
            yield EvalRow(
                id=f"{category}/{meta.stem}",
                line=line,
                image=image,
                question=obj["question"],
                options=options,
                answer_index=0,  # V*: the correct option comes first (shuffled by option_order)
                category=category,
                bbox=boxes[0] if boxes else None,
                target=str(targets[0]) if targets else None,
                extra={"boxes": boxes, "targets": [str(t) for t in targets]},
            )
        except (json.JSONDecodeError, RowError, OSError, ValueError) as exc:
            yield line, f"{meta.relative_to(root)}: {exc}" if str(meta.name) not in str(exc) else str(exc)


def split_text(text: str) -> tuple[str, tuple[str, ...]]:
    """lmms-lab's ``text``: the question, ``(A) …`` lines, then an instruction line (dropped)."""
    question, options = [], []
    for raw in text.splitlines():
        m = _OPTION_LINE.match(raw.strip())
        if m:
            options.append(m.group(2).strip())
        elif not options:
            question.append(raw)
    if not options:
        raise RowError("no '(A) …' option lines in 'text'")
    return "\n".join(question).strip(), tuple(options)


def read_parquet(path: Path, inline_images: bool, batch_rows: int = 16) -> Iterator[EvalRow | tuple[int, str]]:
    for line, obj, image, _ in parquet_rows(path, "image", inline_images, batch_rows):
        try:
            if obj is None:
                raise image
            question, options = split_text(str(obj.get("text") or ""))
            answer = letter_index(obj.get("label"), len(options))
            check_options(options, answer)
            yield EvalRow(
                id=str(obj.get("question_id", line)),
                line=line,
                image=image,
                question=question,
                options=options,
                answer_index=answer,
                category=str(obj.get("category") or "all"),
            )
        except (RowError, ImageError, ValueError, TypeError, KeyError) as exc:
            yield line, str(exc)
