"""Tiny files in the exact layouts the real datasets are distributed in, built from zoom-world scenes:
a V* Bench folder, HR-Bench's TSV and parquet (base64 JPEGs, four rotations per question), lmms-lab's V* parquet
and a DeepEyes-47k parquet with all its columns."""

from __future__ import annotations

import base64
import io
import json
import random
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from deepeyes_agent.data.zoomworld import generate
from deepeyes_agent.protocol import SYSTEM_PROMPT, USER_SUFFIX


def zoomworld_rows(folder: Path, n: int, seed: int) -> list[dict]:
    path = generate(folder, n, seed)
    return [{**json.loads(t), "_path": folder / json.loads(t)["image"]} for t in path.read_text().splitlines()]


def jpeg(path_or_image, size: tuple[int, int] | None = None) -> bytes:
    img = path_or_image if isinstance(path_or_image, Image.Image) else Image.open(path_or_image).convert("RGB")
    if size:
        img = img.resize(size)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def write_vstar_folder(root: Path, n: int = 6, seed: int = 11) -> Path:
    """``direct_attributes/`` and ``relative_position/``: ``sa_<id>.jpg`` + ``.json`` with [x, y, w, h] boxes and
    the right option first."""
    for i, row in enumerate(zoomworld_rows(root / "_src", n, seed)):
        category = "direct_attributes" if row["category"] == "attribute" else "relative_position"
        folder = root / category
        folder.mkdir(parents=True, exist_ok=True)
        x1, y1, x2, y2 = row["bbox"]
        options = [row["options"][row["answer_index"]]] + [
            o for j, o in enumerate(row["options"]) if j != row["answer_index"]
        ]
        meta = {
            "target_object": [row["target"]],
            "bbox": [[x1, y1, x2 - x1, y2 - y1]],
            "question": row["question"],
            "options": options,
        }
        (folder / f"sa_{1000 + i}.jpg").write_bytes(jpeg(row["_path"]))
        (folder / f"sa_{1000 + i}.json").write_text(json.dumps(meta))
    (root / "OCR").mkdir()  # other folders are ignored
    return root


def hrbench_frame(
    folder: Path, questions: int = 3, seed: int = 12, size: tuple[int, int] | None = None
) -> pd.DataFrame:
    """HR-Bench's columns: 4 rows per question (options rotated, ``cycle_category`` 0–3), image = base64 JPEG."""
    records = []
    for q, row in enumerate(zoomworld_rows(folder / "_src", questions, seed)):
        options = list(row["options"]) + [f"none of these {k}" for k in range(4 - len(row["options"]))]
        image = base64.b64encode(jpeg(row["_path"], size)).decode()
        for c in range(4):
            rotated = options[c:] + options[:c]
            answer = "ABCD"[rotated.index(row["options"][row["answer_index"]])]
            records.append(
                {
                    "index": len(records),
                    "question": row["question"],
                    "answer": answer,
                    "category": "single" if q % 2 == 0 else "cross",
                    "A": rotated[0],
                    "B": rotated[1],
                    "C": rotated[2],
                    "D": rotated[3],
                    "cycle_category": c,
                    "image": image,
                }
            )
    return pd.DataFrame.from_records(records)


def write_hrbench(path: Path, questions: int = 3, seed: int = 12) -> Path:
    frame = hrbench_frame(path.parent, questions, seed)
    if path.suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def write_lmms_vstar(path: Path, n: int = 4, seed: int = 13) -> Path:
    records = []
    for i, row in enumerate(zoomworld_rows(path.parent / "_lmms", n, seed)):
        lines = "\n".join(f"({'ABCD'[j]}) {o}" for j, o in enumerate(row["options"]))
        text = f"{row['question']}\n{lines}\nAnswer with the option's letter from the given choices directly."
        records.append(
            {
                "image": {"bytes": jpeg(row["_path"]), "path": f"sa_{i}.jpg"},
                "text": text,
                "label": "ABCD"[row["answer_index"]],
                "category": row["category"],
                "question_id": f"q{i}",
            }
        )
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


def write_deepeyes(path: Path, n: int = 6, seed: int = 14, *, bad_row: bool = True, math_row: bool = True) -> Path:
    """DeepEyes-47k's columns; the ground truth is the right option's words (single words, so ``exact`` can judge)."""
    records = []
    for i, row in enumerate(zoomworld_rows(path.parent / "_deepeyes", n, seed)):
        answer = row["options"][row["answer_index"]]
        records.append(
            {
                "data_source": "vstar",
                "prompt": [
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": f"<image>\n{row['question']}" + USER_SUFFIX},
                ],
                "images": [{"bytes": jpeg(row["_path"]), "path": f"img_{i}.jpg"}],
                "ability": "vl_chart" if i % 2 else "vl_perception",
                "env_name": "visual_toolbox_v2",
                "reward_model": {"ground_truth": answer, "style": "model"},
                "extra_info": {"question": row["question"], "answer": answer, "index": i, "split": "train"},
            }
        )
    if math_row:  # ThinkLite: no tool env
        records.append(
            {
                **records[0],
                "data_source": "thinklite_eureka",
                "env_name": "",
                "reward_model": {"ground_truth": "4", "style": "model"},
            }
        )
    if bad_row:  # an image that is not one
        records.append({**records[0], "images": [{"bytes": b"not an image", "path": "broken.jpg"}]})
    random.Random(seed).shuffle(records)
    pq.write_table(pa.Table.from_pylist(records), path)
    return path
