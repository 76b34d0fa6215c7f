"""Turn graph input (image + question, or LangChain messages with an image block) into a stored image.

Who may send what is an :class:`ImageInputPolicy`. Library and CLI use trusts the caller (local paths are
fine). A graph served over HTTP (``langgraph dev``, LangGraph Platform) does not: it refuses local paths
(unless they lie inside an allow-listed image root), caps uploads before decoding them, and accepts a
``sha256:`` reference only when the thread itself produced it.
"""

from __future__ import annotations

from pathlib import Path

from langchain_core.messages import HumanMessage
from pydantic import BaseModel, Field

from deepeyes_agent.images import MAX_UPLOAD_BYTES, REF_PREFIX, ImageError, ImageStore, decode_data_url, load_image

LOCAL_PATH_REFUSED = (
    "local image paths are not accepted here: send the image as a data URL "
    "(data:image/png;base64,…) or a base64 image content block"
)


class ImageInputPolicy(BaseModel):
    """What image input a graph accepts from whoever invokes it."""

    allow_local_paths: bool = Field(
        True,
        description="open paths on this machine; False for input from untrusted "
        "callers — then sha256: references are also confined to the thread that made them",
    )
    image_root: Path | None = Field(
        None,
        description="with allow_local_paths=False: relative paths inside this folder "
        "are still accepted (no '..', no symlinks out)",
    )
    max_upload_bytes: int = Field(
        MAX_UPLOAD_BYTES,
        ge=1,
        description="data URLs / base64 blocks larger than this are refused before they are decoded",
    )

    @property
    def trusts_caller(self) -> bool:
        return self.allow_local_paths


def resolve_image(
    value: str, store: ImageStore, policy: ImageInputPolicy | None = None, owner: str | None = None
) -> str:
    """A path, a ``sha256:`` reference or a ``data:`` URL → a reference in ``store``.

    ``owner`` (the thread id) matters for untrusted callers: they may name only references granted to their
    thread — the images its input produced and its crops (the store keeps that record, not the graph state,
    which a caller could write)."""
    policy = policy or ImageInputPolicy()
    if not isinstance(value, str):
        raise ImageError(f"an image must be a string (path, data URL or sha256: reference), got {type(value).__name__}")
    ref = _resolve(value, store, policy, owner)
    if not policy.trusts_caller and owner is not None:
        store.grant(owner, ref)
    return ref


def _resolve(value: str, store: ImageStore, policy: ImageInputPolicy, owner: str | None) -> str:
    if value.startswith(REF_PREFIX):
        if not policy.trusts_caller and (owner is None or not store.is_granted(owner, value)):
            raise ImageError(f"{value[:80]}: unknown image reference")
        store.get(value)  # fails clearly if unknown
        return value
    if value.startswith("data:"):
        return store.put(load_image(decode_data_url(value, policy.max_upload_bytes), name="data URL"))
    if value.startswith(("http://", "https://")):
        raise ImageError("remote images are not fetched; pass a local path, a data URL or bytes")
    if policy.allow_local_paths:
        path = Path(value.removeprefix("file://")).expanduser()
        if not path.is_file():
            raise ImageError(f"{path}: no such image file")
        return store.put_file(path)
    if policy.image_root is None:
        raise ImageError(LOCAL_PATH_REFUSED)
    return store.put_file(_inside_root(value, policy.image_root), name=value[:200])


def _inside_root(value: str, root: Path) -> Path:
    """``value`` as a file under ``root``; one message for every refusal, so nothing outside the root is revealed."""
    refused = ImageError(
        f"{value[:200]!r}: not an image file under the allowed image root (give a path relative to it)"
    )
    name = value.removeprefix("file://")
    if not name or Path(name).is_absolute() or name.startswith("~"):
        raise refused
    root = Path(root).resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise refused
    return path


def from_messages(
    messages: list, store: ImageStore, policy: ImageInputPolicy | None = None, owner: str | None = None
) -> tuple[str, str]:
    """The last human message's first image and its text (LangChain v1 and OpenAI image blocks)."""
    for msg in reversed(messages):
        if isinstance(msg, HumanMessage):
            break
    else:
        raise ValueError("no human message in the input")
    content = msg.content if isinstance(msg.content, list) else [{"type": "text", "text": msg.content}]
    resolve = lambda value: resolve_image(value, store, policy, owner)  # noqa: E731
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
            image = resolve(url)
        elif image is None and kind == "image":
            if block.get("base64") or block.get("data"):
                mime = block.get("mime_type", "image/png")
                image = resolve(f"data:{mime};base64,{block.get('base64') or block.get('data')}")
            elif block.get("url"):
                image = resolve(block["url"])
            elif block.get("path"):
                image = resolve(block["path"])
    if image is None:
        raise ValueError("the last human message has no image block")
    question = "\n".join(t for t in texts if t).strip()
    if not question:
        raise ValueError("the last human message has no question text")
    return image, question
