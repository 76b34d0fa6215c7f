"""Rows from the files as they are distributed, the format told by the path — no conversion step.

| path | format |
|---|---|
| ``*.jsonl`` | zoom-world / V*-style / HR-Bench-style / DeepEyes-style rows (see :mod:`.jsonl`) |
| a folder with ``direct_attributes/`` or ``relative_position/`` | V* Bench (:mod:`.vstar`) |
| ``*.tsv`` | HR-Bench 4K / 8K (:mod:`.hrbench`) |
| ``*.parquet`` | by its columns: DeepEyes-47k (``prompt``, ``images``, ``reward_model``), HR-Bench (``question``, ``A``, ``B``, ``answer``, ``image``), lmms-lab V* (``text``, ``label``, ``image``) |

A bad row is skipped with its row number and the reason (``strict`` stops at it instead); an image is decoded
only when its episode starts (:mod:`.sources`). ``Dataset.write_subset`` writes chosen rows back in the format
they came in (a parquet in, a parquet out, columns intact), so a selection feeds training unchanged.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..extras import require
from ..rows import EvalRow, RowError
from . import deepeyes, hrbench, jsonl, vstar

FORMATS = ("jsonl", "vstar-folder", "hrbench-tsv", "hrbench-parquet", "deepeyes-parquet", "vstar-parquet")


@dataclass
class Skipped:
    line: int
    reason: str


@dataclass
class Dataset:
    path: Path
    format: str
    root: Path

    def rows(self, *, stream: bool = True) -> Iterator[EvalRow | Skipped]:
        """Every row in file order, or a :class:`Skipped` for a row that is not one. ``stream=True``: tabular rows
        carry their encoded image (read once, front to back); ``False``: they point at their cell (random access,
        for training)."""
        f, p = self.format, self.path
        source = (
            jsonl.read_jsonl(p, self.root)
            if f == "jsonl"
            else vstar.read_folder(p)
            if f == "vstar-folder"
            else hrbench.read_tsv(p)
            if f == "hrbench-tsv"
            else hrbench.read_parquet(p, stream)
            if f == "hrbench-parquet"
            else deepeyes.read_parquet(p, stream)
            if f == "deepeyes-parquet"
            else vstar.read_parquet(p, stream)
        )
        for item in source:
            yield Skipped(*item) if isinstance(item, tuple) else item

    def count(self) -> int | None:
        """How many rows, when that is cheap to know (None for a TSV: it would take a pass)."""
        if self.format == "jsonl":
            return sum(1 for text in self.path.open() if text.strip())
        if self.format == "vstar-folder":
            return vstar.count_folder(self.path)
        if self.format.endswith("parquet"):
            pq = require("pyarrow.parquet", "datasets", "reading a parquet or TSV file")

            return pq.ParquetFile(self.path).metadata.num_rows
        return None

    def write_subset(self, lines: set[int], out: Path) -> Path:
        """The rows numbered ``lines`` (1-based), in this dataset's own format, to ``out`` (a file, or a folder
        for V*); returns what was written."""
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "jsonl":
            with self.path.open() as src, out.open("w") as dst:
                dst.writelines(text for line, text in enumerate(src, 1) if line in lines)
        elif self.format == "vstar-folder":
            for row in self.rows():
                if isinstance(row, EvalRow) and row.line in lines:
                    category, stem = row.id.split("/", 1)
                    (out / category).mkdir(parents=True, exist_ok=True)
                    for part in (self.path / category).glob(f"{stem}.*"):
                        shutil.copy2(part, out / category / part.name)
        elif self.format == "hrbench-tsv":
            pd = require("pandas", "datasets", "reading a parquet or TSV file")

            start, first = 0, True
            for chunk in pd.read_csv(self.path, sep="\t", chunksize=64, dtype=str, keep_default_na=False):
                keep = [i for i in range(len(chunk)) if start + i + 1 in lines]
                chunk.iloc[keep].to_csv(out, sep="\t", index=False, mode="w" if first else "a", header=first)
                start, first = start + len(chunk), False
        else:
            pa = require("pyarrow", "datasets", "reading a parquet or TSV file")
            pq = require("pyarrow.parquet", "datasets", "reading a parquet or TSV file")

            pf = pq.ParquetFile(self.path)
            with pq.ParquetWriter(out, pf.schema_arrow) as writer:
                start = 0
                for batch in pf.iter_batches(batch_size=64):
                    keep = [i for i in range(batch.num_rows) if start + i + 1 in lines]
                    if keep:
                        writer.write_table(pa.Table.from_batches([batch]).take(keep))
                    start += batch.num_rows
        return out


def detect(path: Path) -> str:
    if path.is_dir():
        if vstar.is_vstar_folder(path):
            return "vstar-folder"
        raise RowError(f"{path}: a folder, but not V* Bench (no direct_attributes/ or relative_position/ inside)")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    if suffix in (".tsv", ".csv"):
        return "hrbench-tsv"
    if suffix == ".parquet":
        pq = require("pyarrow.parquet", "datasets", "reading a parquet or TSV file")

        try:
            names = set(pq.ParquetFile(path).schema_arrow.names)
        except Exception as exc:  # pyarrow's errors are many; any of them means "not a parquet we can read"
            raise RowError(f"{path}: not a readable parquet file ({exc})") from exc
        for fmt, columns in (
            ("deepeyes-parquet", deepeyes.COLUMNS),
            ("hrbench-parquet", hrbench.COLUMNS),
            ("vstar-parquet", vstar.PARQUET_COLUMNS),
        ):
            if set(columns) <= names:
                return fmt
        raise RowError(f"{path}: parquet columns {sorted(names)} are none of DeepEyes-47k, HR-Bench or V*'s")
    raise RowError(f"{path}: unknown dataset format (.jsonl, .tsv, .parquet, or a V* Bench folder)")


def open_dataset(path: str | Path, root: str | Path | None = None) -> Dataset:
    path = Path(path)
    if not path.exists():
        raise RowError(f"{path}: no such file or folder")
    return Dataset(path, detect(path), Path(root) if root else (path if path.is_dir() else path.parent))


def load_rows(
    path: str | Path, root: str | Path | None = None, *, strict: bool = False, stream: bool = False
) -> tuple[list[EvalRow], list[dict]]:
    """All rows (images not decoded: paths or cell references) and the skipped ones (``{"line", "reason"}``).
    ``strict`` raises at the first bad row, naming the file and row."""
    dataset = open_dataset(path, root)
    rows, skipped = [], []
    for row in dataset.rows(stream=stream):
        if isinstance(row, Skipped):
            if strict:
                raise RowError(f"{dataset.path}:{row.line}: {row.reason}")
            skipped.append({"line": row.line, "reason": row.reason})
        else:
            rows.append(row)
    return rows, skipped


__all__ = ["Dataset", "FORMATS", "Skipped", "detect", "load_rows", "open_dataset"]
