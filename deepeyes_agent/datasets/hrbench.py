"""HR-Bench 4K / 8K (``DreamMr/HR-Bench``) as distributed: ``hr_bench_4k.tsv`` / ``hr_bench_8k.tsv`` (tab-separated)
or their ``.parquet`` twins, 800 rows each: ``index``, ``question``, ``answer`` (A–D), ``category`` (``single`` |
``cross``), ``A``–``D``, ``cycle_category`` (0–3) and ``image``, a base64 JPEG string. Each of the 200 questions
appears four times with its options rotated; those rows share a ``group`` (the question, its options as a set,
and its image's encoded length), so the cycle-consistent score can count a question only when all four are right.

The TSV is read in chunks of rows with pandas (the 8K file is 4.6 GB): an image stays a base64 string until its
episode starts, and a chunk's strings go when the next chunk is read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from ..extras import require
from ..images import ImageError
from ..protocol import OPTION_LETTERS
from ..rows import EvalRow, RowError
from .jsonl import check_options, letter_index
from .sources import EncodedImage, parquet_rows

COLUMNS = ("question", "answer", "A", "B", "image")


def _row(obj: dict, line: int, image, encoded_length: int) -> EvalRow:
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise RowError("missing question")
    options = tuple(
        str(obj[k]) for k in OPTION_LETTERS if k in obj and obj[k] not in (None, "") and str(obj[k]) != "nan"
    )
    answer = letter_index(obj.get("answer"), len(options))
    check_options(options, answer)
    key = f"{question}\x00{sorted(options)}\x00{encoded_length}"
    return EvalRow(
        id=str(obj.get("index", line)),
        line=line,
        image=image,
        question=question,
        options=options,
        answer_index=answer,
        category=str(obj.get("category") or "all"),
        group=hashlib.sha1(key.encode()).hexdigest()[:16],
        extra={"cycle_category": obj.get("cycle_category")},
    )


def read_tsv(path: Path, chunk_rows: int = 8) -> Iterator[EvalRow | tuple[int, str]]:
    pd = require("pandas", "datasets", "reading HR-Bench's TSV")

    line = 0
    reader = pd.read_csv(path, sep="\t", chunksize=chunk_rows, dtype=str, keep_default_na=False)
    for chunk in reader:
        for obj in chunk.to_dict("records"):
            line += 1
            name = f"{path.name} row {line}"
            try:
                encoded = obj.pop("image", None)
                if not isinstance(encoded, str) or not encoded:
                    raise RowError("no image")
                yield _row(obj, line, EncodedImage(encoded, name), len(encoded))
            except (RowError, ValueError, TypeError) as exc:
                yield line, str(exc)


def read_parquet(path: Path, inline_images: bool, batch_rows: int = 8) -> Iterator[EvalRow | tuple[int, str]]:
    """Rows of the parquet twin, read a batch at a time (each row holds its encoded image, or points at it)."""
    for line, obj, image, length in parquet_rows(path, "image", inline_images, batch_rows):
        try:
            if obj is None:
                raise image
            yield _row(obj, line, image, length)
        except (RowError, ImageError, ValueError, TypeError) as exc:
            yield line, str(exc)
