"""Turn graph input (image + question, or LangChain messages with an image block) into a stored image."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from langchain_core.messages import HumanMessage

from deepeyes_agent.images import REF_PREFIX, ImageError, ImageStore, load_image


def resolve_image(value: str, store: ImageStore) -> str:
    """A path, a ``sha256:`` reference or a ``data:`` URL → a reference in ``store``."""
    if value.startswith(REF_PREFIX):
        store.get(value)  # fails clearly if unknown
        return value
    if value.startswith("data:"):
        return store.put(load_image(_decode_data_url(value), name="data URL"))
    if value.startswith(("http://", "https://")):
        raise ImageError(f"{value}: remote images are not fetched; pass a local path, a data URL or bytes")
    path = Path(value.removeprefix("file://")).expanduser()
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    return store.put(load_image(path))


def _decode_data_url(url: str) -> bytes:
    header, _, payload = url.partition(",")
    if ";base64" not in header:
        raise ImageError("data URL without base64 payload")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"data URL: bad base64 ({exc})") from exc


def from_messages(messages: list, store: ImageStore) -> tuple[str, str]:
    """The last human message's first image and its text (LangChain v1 and OpenAI image blocks)."""
    for msg in reversed(messages):
        if isinstance(msg, HumanMessage):
            break
    else:
        raise ValueError("no human message in the input")
    content = msg.content if isinstance(msg.content, list) else [{"type": "text", "text": msg.content}]
    image, texts = None, []
    for block in content:
        if isinstance(block, str):
            texts.append(block)
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif image is None and kind == "image_url":
            url = block["image_url"]["url"] if isinstance(block["image_url"], dict) else block["image_url"]
            image = resolve_image(url, store)
        elif image is None and kind == "image":
            if block.get("base64") or block.get("data"):
                mime = block.get("mime_type", "image/png")
                image = resolve_image(f"data:{mime};base64,{block.get('base64') or block.get('data')}", store)
            elif block.get("url"):
                image = resolve_image(block["url"], store)
            elif block.get("path"):
                image = resolve_image(block["path"], store)
    if image is None:
        raise ValueError("the last human message has no image block")
    question = "\n".join(t for t in texts if t).strip()
    if not question:
        raise ValueError("the last human message has no question text")
    return image, question
