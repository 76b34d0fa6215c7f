"""DeepEyes-47k training rows (``ChenShawn/DeepEyes-Datasets-47k``), as its three parquet files hold them.

Columns: ``prompt`` (chat list: system, user; the user content is a string with one ``<image>`` placeholder per
image), ``images`` (list of ``{bytes, path}``), ``reward_model.ground_truth`` (the answer, often a sentence),
``extra_info.question`` (what the LLM judge is shown), ``data_source`` (``vstar``, ``chart``,
``thinklite_eureka``) and ``env_name`` (``visual_toolbox_v2`` = the zoom tool is on; empty = no tool).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..extras import require
from ..protocol import USER_SUFFIX
from ..rows import EvalRow, RowError
from .sources import EncodedImage, ParquetCell, image_bytes

COLUMNS = ("prompt", "images", "reward_model")
TOOL_ENV = "visual_toolbox_v2"


def user_text(prompt) -> tuple[str, int]:
    """The user's text with its ``<image>`` placeholders taken out (and DeepEyes' instruction suffix, which the
    prompt builder adds again), and how many images it names."""
    if isinstance(prompt, list):
        users = [m.get("content") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        prompt = users[-1] if users else None
    if not isinstance(prompt, str) or not prompt.replace("<image>", "").strip():
        raise RowError("no question text in 'prompt'")
    n_images = prompt.count("<image>")
    text = prompt.replace("<image>", "")
    for suffix in (USER_SUFFIX, USER_SUFFIX.rstrip()):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    return text, n_images


def free_form_row(obj: dict, line: int, images: list) -> EvalRow:
    """A DeepEyes-style row: its question, first image, free-form ground truth, and whether the tool is on."""
    text, placeholders = user_text(obj.get("prompt"))
    if max(placeholders, len(images)) > 1:
        raise RowError(f"{max(placeholders, len(images))} images: the agent takes one image per question")
    reward = obj.get("reward_model") or {}
    truth = reward.get("ground_truth", obj.get("answer")) if isinstance(reward, dict) else obj.get("answer")
    if truth is None or not str(truth).strip():
        raise RowError("no answer: need reward_model.ground_truth or answer")
    extra = obj.get("extra_info") or {}
    env = obj.get("env_name")
    return EvalRow(
        id=str(extra.get("index", line) if isinstance(extra, dict) else line),
        line=line,
        image=images[0],
        question=text,
        options=None,
        answer_index=None,
        category=str(obj.get("data_source") or "all"),
        answer=str(truth),
        tool=env is None or env == TOOL_ENV,
        data_source=obj.get("data_source"),
        extra={
            "judge_question": str(extra.get("question") or text.strip()) if isinstance(extra, dict) else text.strip()
        },
    )


def read_parquet(path: Path, inline_images: bool, batch_rows: int = 16) -> Iterator[EvalRow | tuple[int, str]]:
    """Rows of a DeepEyes parquet. ``inline_images``: each row carries its encoded image (streaming: the
    bytes are dropped with the row); otherwise each row points at its cell (random access, nothing held)."""
    pq = require("pyarrow.parquet", "datasets", "reading a DeepEyes-47k parquet")

    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    columns = [c for c in names if inline_images or c != "images"]
    row = 0
    for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
        for obj in batch.to_pylist():
            line, row = row + 1, row + 1
            name = f"{path.name} row {line}"
            try:
                if inline_images:
                    image = EncodedImage(image_bytes(obj.get("images"), 0, name), name)
                else:
                    image = ParquetCell(path, line - 1, "images", 0, name)
                yield free_form_row(obj, line, [image])
            except (RowError, ValueError, TypeError, AttributeError) as exc:
                yield line, str(exc)
