"""Benchmark rows from JSONL, normalised; bad rows are reported with their line number, never dropped silently.

Accepted layouts (one JSON object per line):
- zoom-world / V*-style: ``image``, ``question``, ``options`` (list), ``answer_index`` (or ``answer`` equal
  to one option's text); without either, V*'s convention holds: ``options[0]`` is correct.
- HR-Bench: ``image``, ``question``, ``A``..``D``, ``answer`` (a letter), ``category``.
Optional: ``id``, ``category``, ``bbox`` [x1, y1, x2, y2] in original pixels, ``target`` (a description).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError
from ..protocol import OPTION_LETTERS


class RowError(InputError):
    pass


@dataclass(frozen=True)
class EvalRow:
    id: str
    line: int
    image: Path
    question: str
    options: tuple[str, ...]
    answer_index: int
    category: str
    bbox: tuple[float, float, float, float] | None = None
    target: str | None = None

    @property
    def answer_letter(self) -> str:
        return OPTION_LETTERS[self.answer_index]


def resolve_inside(root: Path, name: str) -> Path:
    """``name`` under ``root``; refuses absolute paths, ``..`` escapes and symlinks that leave the root."""
    if Path(name).is_absolute():
        raise RowError(f"absolute image path {name!r} refused: paths are relative to {root}")
    path = (root / name).resolve()
    if not path.is_relative_to(root.resolve()):
        raise RowError(f"image path {name!r} escapes the data root {root}")
    return path


def parse_row(obj: dict, line: int, root: Path) -> EvalRow:
    if not isinstance(obj, dict):
        raise RowError("not a JSON object")
    for key in ("image", "question"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise RowError(f"missing or empty {key!r}")
    if isinstance(obj.get("options"), list):
        options = tuple(str(o) for o in obj["options"])
        if "answer_index" in obj:
            answer = int(obj["answer_index"])
        elif "answer" in obj:
            if obj["answer"] not in options:
                raise RowError(f"answer {obj['answer']!r} is not one of the options")
            answer = options.index(obj["answer"])
        else:
            answer = 0  # V*: the correct option comes first
    elif all(k in obj for k in ("A", "B")):
        options = tuple(str(obj[k]) for k in OPTION_LETTERS if k in obj)
        letter = str(obj.get("answer", "")).strip().upper()[:1]
        if not letter or letter not in OPTION_LETTERS[: len(options)]:
            raise RowError(f"answer {obj.get('answer')!r} is not an option letter")
        answer = OPTION_LETTERS.index(letter)
    else:
        raise RowError("no options: need 'options' or 'A'..'D'")
    if not 2 <= len(options) <= len(OPTION_LETTERS) or not 0 <= answer < len(options):
        raise RowError(f"{len(options)} options with answer index {answer}")
    bbox = obj.get("bbox")
    if bbox is not None and (not isinstance(bbox, list) or len(bbox) != 4):
        raise RowError(f"bbox must be [x1, y1, x2, y2], got {bbox!r}")
    return EvalRow(
        id=str(obj.get("id", line)),
        line=line,
        image=resolve_inside(root, obj["image"]),
        question=obj["question"],
        options=options,
        answer_index=answer,
        category=str(obj.get("category", "all")),
        bbox=tuple(float(v) for v in bbox) if bbox else None,
        target=obj.get("target"),
    )


def load_rows(
    path: str | Path, root: str | Path | None = None, *, strict: bool = False
) -> tuple[list[EvalRow], list[dict]]:
    """Rows and a list of skipped lines (``{"line", "reason"}``). ``strict`` raises on the first bad line."""
    path = Path(path)
    root = Path(root) if root else path.parent
    rows, skipped = [], []
    with path.open() as f:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                rows.append(parse_row(json.loads(text), line, root))
            except (json.JSONDecodeError, RowError, ValueError, TypeError) as exc:
                if strict:
                    raise RowError(f"{path}:{line}: {exc}") from exc
                skipped.append({"line": line, "reason": str(exc)})
    return rows, skipped


def order_options(row: EvalRow, mode: str, seed: int, position: int) -> EvalRow:
    """``shuffle``: a seeded permutation per row; ``cycle``: the answer moves to ``position % n``;
    ``fixed``: as stored (DeepEyes' V* eval, where the answer is always A)."""
    n = len(row.options)
    if mode == "fixed":
        return row
    if mode == "shuffle":
        perm = list(range(n))
        random.Random(f"{seed}-{row.id}").shuffle(perm)
    elif mode == "cycle":
        others = [i for i in range(n) if i != row.answer_index]
        random.Random(f"{seed}-{row.id}").shuffle(others)
        target = (position + seed) % n
        perm = others[:target] + [row.answer_index] + others[target:]
    else:
        raise ValueError(f"unknown option order {mode!r}")
    return replace(row, options=tuple(row.options[i] for i in perm), answer_index=perm.index(row.answer_index))
