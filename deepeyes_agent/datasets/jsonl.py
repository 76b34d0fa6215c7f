"""JSONL rows (one JSON object per line; image paths relative to the file's folder).

- zoom-world / V*-style: ``image``, ``question``, ``options`` (list), ``answer_index`` (or ``answer`` equal to one
  option's text); without either, V*'s convention holds: ``options[0]`` is correct.
- HR-Bench-style: ``image``, ``question``, ``A``..``D``, ``answer`` (a letter), ``category``.
- DeepEyes-style: ``images`` (list of paths), ``prompt`` (text with ``<image>``, or a chat list whose user turn
  holds it), ``reward_model.ground_truth`` (or ``answer``): a free-form row.
Optional: ``id``, ``category``, ``bbox`` [x1, y1, x2, y2] in original pixels, ``target`` (a description).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from ..protocol import OPTION_LETTERS
from ..rows import EvalRow, RowError, resolve_inside
from .deepeyes import free_form_row


def parse_row(obj: dict, line: int, root: Path) -> EvalRow:
    if not isinstance(obj, dict):
        raise RowError("not a JSON object")
    if "images" in obj and "prompt" in obj:
        images = obj["images"]
        if not isinstance(images, list) or not images or not isinstance(images[0], str):
            raise RowError("'images' must be a non-empty list of paths")
        return free_form_row(obj, line, [resolve_inside(root, name) for name in images])
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
        answer = letter_index(obj.get("answer"), len(options))
    else:
        raise RowError("no options: need 'options' or 'A'..'D'")
    check_options(options, answer)
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


def letter_index(letter, n_options: int) -> int:
    text = str(letter if letter is not None else "").strip().upper()[:1]
    if not text or text not in OPTION_LETTERS[:n_options]:
        raise RowError(f"answer {letter!r} is not an option letter")
    return OPTION_LETTERS.index(text)


def check_options(options: tuple[str, ...], answer: int) -> None:
    if not 2 <= len(options) <= len(OPTION_LETTERS) or not 0 <= answer < len(options):
        raise RowError(f"{len(options)} options with answer index {answer}")


def read_jsonl(path: Path, root: Path) -> Iterator[EvalRow | tuple[int, str]]:
    """Rows, or ``(line, reason)`` for a line that is not one."""
    with path.open() as f:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                yield parse_row(json.loads(text), line, root)
            except (json.JSONDecodeError, RowError, ValueError, TypeError) as exc:
                yield line, str(exc)
