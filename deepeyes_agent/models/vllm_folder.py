"""A model folder vLLM can load: vLLM's Qwen2.5-VL path insists on the stock ``Qwen2_5_VLProcessor``.

This library's tiny models save an image-only processor (no video half, so no torchvision needed for
the transformers backend). vLLM builds the stock processor, which needs a video processor config. The
folder prepared here is the same model — config and weights linked, not copied — with the stock
processor saved next to them; real Qwen folders already have it and are used as they are.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

STOCK_PROCESSORS = ("Qwen2_5_VLProcessor", "Qwen3VLProcessor")


def processor_class(model_dir: Path) -> str | None:
    for name in ("processor_config.json", "preprocessor_config.json"):
        path = model_dir / name
        if path.exists():
            return json.loads(path.read_text()).get("processor_class")
    return None


def vllm_model_dir(model_dir: str | Path, cache: str | Path | None = None) -> Path:
    """``model_dir`` itself when vLLM can load it, else a prepared folder under ``cache`` (rebuilt when the
    weights or configs change: the folder name is a hash of them)."""
    from . import build_folder_once, home_dir

    model_dir = Path(model_dir).resolve()
    if not (model_dir / "config.json").exists():
        raise FileNotFoundError(f"{model_dir}: not a model folder (no config.json)")
    if processor_class(model_dir) in (*STOCK_PROCESSORS, None):
        return model_dir
    target = Path(cache or home_dir() / "vllm-models") / f"{model_dir.name}-{_fingerprint(model_dir)}"
    return build_folder_once(target, lambda folder: _write_stock_folder(model_dir, folder), "processor_config.json")


def _fingerprint(model_dir: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in model_dir.iterdir() if p.is_file()):
        stat = path.stat()
        h.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return h.hexdigest()[:12]


def _write_stock_folder(src: Path, dst: Path) -> None:
    """The family's stock processor (Qwen2.5-VL's, or Qwen3-VL's for a ``qwen3_vl`` config) with a video half
    matching the image processor's patches."""
    from .processor import load_processor

    own = load_processor(src)
    ip = own.image_processor
    if json.loads((src / "config.json").read_text()).get("model_type", "").startswith("qwen3"):
        from transformers import Qwen3VLProcessor as Processor
        from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor as Video
    else:  # the video half needs torchvision
        from transformers import Qwen2_5_VLProcessor as Processor
        from transformers import Qwen2VLVideoProcessor as Video
    video = Video(
        patch_size=ip.patch_size,
        merge_size=ip.merge_size,
        temporal_patch_size=ip.temporal_patch_size,
        image_mean=ip.image_mean,
        image_std=ip.image_std,
    )
    Processor(
        image_processor=ip, tokenizer=own.tokenizer, video_processor=video, chat_template=own.chat_template
    ).save_pretrained(dst)
    _link_rest(src, dst)


def _link_rest(src: Path, dst: Path) -> None:
    """Config, weights and tokenizer files linked from the original folder (the stock processor's files win)."""
    for path in src.iterdir():
        if path.is_file() and not (dst / path.name).exists():
            (dst / path.name).symlink_to(path)
