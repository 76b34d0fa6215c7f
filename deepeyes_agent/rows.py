"""One benchmark or training row, whatever file it came from (``deepeyes_agent.datasets`` reads them; ``eval`` and
``rl`` run them), and what the agent graph is invoked with for it.

A row is multiple choice (``options`` + ``answer_index``) or free-form (``answer``: the ground truth in words,
e.g. DeepEyes-47k's "Yes, the color of the pole is gray."). Its image is a path or a reference that decodes
the image only when an episode starts (:class:`deepeyes_agent.datasets.sources.ImageRef`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import InputError
from .images import ImageStore, load_image
from .protocol import OPTION_LETTERS


class RowError(InputError):
    pass


@dataclass(frozen=True)
class EvalRow:
    id: str
    line: int  # 1-based position in the file (JSONL line, table row, or the folder's sorted items)
    image: Any  # a Path, or an ImageRef with .load() and .name
    question: str
    options: tuple[str, ...] | None
    answer_index: int | None
    category: str
    bbox: tuple[float, float, float, float] | None = None  # the (first) target, x1 y1 x2 y2 in original pixels
    target: str | None = None
    answer: str | None = None  # free-form ground truth (multiple-choice rows: the right option's text)
    tool: bool = True  # DeepEyes' env_name: the tool-enabled prompt
    group: str | None = None  # rows that are rotations of one question (HR-Bench's cycles)
    data_source: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def answer_letter(self) -> str:
        return OPTION_LETTERS[self.answer_index]

    @property
    def truth_text(self) -> str:
        """The right answer in words."""
        return self.options[self.answer_index] if self.options is not None else (self.answer or "")

    @property
    def image_name(self) -> str:
        return str(self.image) if isinstance(self.image, Path) else self.image.name


def row_image(row: EvalRow):
    """The row's image, decoded (a file, or the encoded cell of a table)."""
    return load_image(row.image) if isinstance(row.image, Path) else row.image.load()


def graph_input(row: EvalRow, store: ImageStore) -> dict:
    """What the agent graph is invoked with: a path, or the row's decoded image by ``sha256:`` reference."""
    image = str(row.image) if isinstance(row.image, Path) else store.put(row.image.load())
    return {"image": image, "question": row.question, "options": list(row.options) if row.options else None}


def resolve_inside(root: Path, name: str) -> Path:
    """``name`` under ``root``; refuses absolute paths, ``..`` escapes and symlinks that leave the root."""
    if Path(name).is_absolute():
        raise RowError(f"absolute image path {name!r} refused: paths are relative to {root}")
    path = (root / name).resolve()
    if not path.is_relative_to(root.resolve()):
        raise RowError(f"image path {name!r} escapes the data root {root}")
    return path


def order_options(row: EvalRow, mode: str, seed: int, position: int) -> EvalRow:
    """``shuffle``: a seeded permutation per row; ``cycle``: the answer moves to ``position % n``;
    ``fixed``: as stored (DeepEyes' V* eval, where the answer is always A); ``none``: the options are not
    shown at all — a free-form question, judged against the right option's words. Free-form rows pass."""
    if row.options is None or mode == "fixed":
        return row
    if mode == "none":
        return replace(row, options=None, answer_index=None, answer=row.truth_text)
    n = len(row.options)
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
