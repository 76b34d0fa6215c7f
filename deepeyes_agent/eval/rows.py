"""One benchmark or training row, whatever file it came from (``deepeyes_agent.datasets`` reads them).

A row is multiple choice (``options`` + ``answer_index``) or free-form (``answer``: the ground truth in words,
e.g. DeepEyes-47k's "Yes, the color of the pole is gray."). Its image is a path or a reference that decodes
the image only when an episode starts (:class:`deepeyes_agent.datasets.sources.ImageRef`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..protocol import OPTION_LETTERS


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


def truth_of(row: EvalRow):
    """What the judge compares a prediction with: the right option (with the options), or the free-form answer."""
    from ..rl.judges import Truth

    question = row.extra.get("judge_question", row.question.strip())
    if row.options is not None:
        return Truth(answer=row.truth_text, options=row.options, answer_index=row.answer_index, question=question)
    return Truth(answer=row.truth_text, question=question)


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
