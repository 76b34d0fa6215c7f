"""Where a row's image comes from, decoded only when its episode starts.

A folder's rows name files; tabular rows carry the encoded image in a cell (HR-Bench: a base64 JPEG string;
parquet files: ``{bytes, path}``). Reading a file never decodes its images: a multi-gigabyte table is read row
by row, and an image becomes pixels when :meth:`ImageRef.load` is called.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..extras import require
from ..images import ImageError, load_image


class ImageRef:
    """An image a row names but has not decoded: ``load()`` decodes it, ``name`` says where it is."""

    name: str

    def load(self) -> Image.Image:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class EncodedImage(ImageRef):
    """Encoded bytes held by a streamed row (base64 text for HR-Bench's TSV)."""

    data: bytes | str
    name: str

    def load(self) -> Image.Image:
        data = self.data
        if isinstance(data, str):
            try:
                data = base64.b64decode(data, validate=False)
            except (binascii.Error, ValueError) as exc:
                raise ImageError(f"{self.name}: bad base64 image ({exc})") from exc
        return load_image(data, name=self.name)


@dataclass(frozen=True)
class ParquetCell(ImageRef):
    """An image cell of a parquet row, read when it is needed (random access for training: the row group holding
    it is read, that one column only)."""

    path: Path
    row: int  # 0-based row of the file
    column: str
    index: int = 0  # which image of a list cell
    name: str = ""

    def load(self) -> Image.Image:
        pq = require("pyarrow.parquet", "datasets", "reading a parquet file")

        pf = pq.ParquetFile(self.path)
        start = 0
        for group in range(pf.num_row_groups):
            rows = pf.metadata.row_group(group).num_rows
            if self.row < start + rows:
                cell = pf.read_row_group(group, columns=[self.column]).column(0)[self.row - start].as_py()
                return load_image(image_bytes(cell, self.index, self.name), name=self.name)
            start += rows
        raise ImageError(f"{self.name}: row {self.row + 1} is beyond the file's {start} rows")


def image_bytes(cell, index: int = 0, name: str = "image") -> bytes | str:
    """The encoded image of a table cell: ``{bytes, path}`` (Hugging Face's image feature), a list of those,
    raw bytes, or a base64 string."""
    if isinstance(cell, list):
        if index >= len(cell):
            raise ImageError(f"{name}: the row has {len(cell)} images, not {index + 1}")
        cell = cell[index]
    if isinstance(cell, dict):
        cell = cell.get("bytes") or cell.get("image")
    if isinstance(cell, str):
        try:
            return base64.b64decode(cell, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ImageError(f"{name}: bad base64 image ({exc})") from exc
    if not isinstance(cell, (bytes, bytearray)) or not cell:
        raise ImageError(f"{name}: no image bytes in the cell")
    return bytes(cell)


def parquet_rows(path: Path, column: str, inline_images: bool, batch_rows: int = 16):
    """``(line, row without its image cell, image ref, encoded length)`` for every row of a parquet file, read a
    batch at a time. ``inline_images``: the ref holds the encoded bytes (streaming); otherwise it points at the
    cell. A row whose image cell is unusable yields ``(line, None, error, 0)``."""
    pq = require("pyarrow.parquet", "datasets", "reading a parquet file")

    from ..images import ImageError

    line = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        for obj in batch.to_pylist():
            line += 1
            name = f"{path.name} row {line}"
            cell = obj.pop(column, None)
            try:
                encoded = image_bytes(cell, 0, name)
            except ImageError as exc:
                yield line, None, exc, 0
                continue
            ref = EncodedImage(encoded, name) if inline_images else ParquetCell(path, line - 1, column, 0, name)
            yield line, obj, ref, len(cell) if isinstance(cell, (str, bytes)) else len(encoded)
