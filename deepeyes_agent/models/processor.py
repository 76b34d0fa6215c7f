"""An image-only Qwen-VL processor and the loader that works for tiny and real model folders.

The stock ``Qwen2_5_VLProcessor`` needs a video processor, which needs torchvision; on CPU machines
torchvision is often a CUDA build that cannot import. Images are all this library feeds, so the
processor here drops the video half. ``AutoProcessor`` finds it by class name once this module is
imported (it is registered under its own key, leaving the stock Qwen mapping untouched).
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer, PretrainedConfig
from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor


class ImageOnlyQwenVLProcessor(Qwen2_5_VLProcessor):
    """Qwen2.5-VL processor without the video processor (ProcessorMixin reads attributes from this signature)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=chat_template,
            **kwargs,
        )


class _ImageOnlyProcessorKey(PretrainedConfig):
    """Registration key only: AutoProcessor resolves ``processor_class`` names through its registry."""

    model_type = "deepeyes_image_only_processor"


AutoProcessor.register(_ImageOnlyProcessorKey, ImageOnlyQwenVLProcessor, exist_ok=True)


def load_processor(model_dir: str | Path, image_backend: str | None = None):
    """A processor with ``.image_processor``, ``.tokenizer`` and a chat template for ``model_dir``.

    Tries ``AutoProcessor`` first (the tiny model, or a real folder where torchvision works); falls back
    to building the image-only processor from the folder's image processor and tokenizer. Never
    returns a bare tokenizer (``AutoProcessor`` does that silently when it cannot resolve a class).

    ``image_backend`` None picks transformers' default — torchvision when it imports, as vLLM's
    processor does, so rollouts on vLLM and the training forward see the same pixels; ``"pil"`` pins the
    PIL image processor (pretraining: its recipe builds that one, and a resumed run must match it).
    """
    model_dir = Path(model_dir)
    if image_backend is None:
        try:
            proc = AutoProcessor.from_pretrained(model_dir)
            if hasattr(proc, "image_processor") and hasattr(proc, "tokenizer"):
                return proc
        except (ImportError, ValueError, OSError, RuntimeError, TypeError):
            pass
    image_processor = AutoImageProcessor.from_pretrained(
        model_dir, **({"backend": image_backend} if image_backend else {})
    )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    template = _read_chat_template(model_dir) or getattr(tokenizer, "chat_template", None)
    if template is None:
        raise ValueError(f"{model_dir}: no chat template found (chat_template.json/.jinja or tokenizer_config.json)")
    return ImageOnlyQwenVLProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=template)


def _read_chat_template(model_dir: Path) -> str | None:
    jinja = model_dir / "chat_template.jinja"
    if jinja.exists():
        return jinja.read_text()
    js = model_dir / "chat_template.json"
    if js.exists():
        return json.loads(js.read_text()).get("chat_template")
    return None
