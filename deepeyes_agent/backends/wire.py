"""Images on the wire to a vLLM server: sent at the size the model sees, losslessly, encoded once per image.

The server's processor resizes every image to its view (sides multiples of the patch block, pixels within
``[min_pixels, max_pixels]``) before the model sees it. Sending the original of an 8K photo moves ~100 MB of pixels
that the server throws away. :func:`view_image` resizes on the client with the *same* image processor the server
runs (its own ``resize``, same backend, same interpolation), so the server's resize becomes a no-op and its pixel
values — and therefore token ids and logprobs — are identical to sending the original.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image
from transformers.image_utils import SizeDict

from ..zoom import ViewGeometry


def view_image(img: Image.Image, image_processor) -> Image.Image:
    """``img`` as the model's view: resized by ``image_processor``'s own resize (unchanged when already there).

    Only when the view is a fixed point of that resize — the server, resizing it again, must leave it as it is.
    It is not when the pixel bounds are tight: with ``min_pixels == max_pixels`` (the embedded model's 280×280), a
    16:9 original's view is rounded *down* under ``max_pixels`` (364×196 for 1920×1080), and the same resize would
    scale that view *up* to ``min_pixels`` (392×224) — other pixels, more image tokens. Then the original is sent.
    """
    geom = ViewGeometry.for_image(img.width, img.height, image_processor)
    view = (geom.view_width, geom.view_height)
    if view == img.size:
        return img
    again = ViewGeometry.for_image(*view, image_processor)
    if (again.view_width, again.view_height) != view:
        return img
    factor = image_processor.patch_size * image_processor.merge_size
    pixels = np.asarray(img.convert("RGB"))
    if type(image_processor).__name__.endswith("Pil"):
        out = image_processor.resize(
            pixels.transpose(2, 0, 1),
            size=_pixel_bounds(image_processor),
            resample=image_processor.resample,
            factor=factor,
        )
        return Image.fromarray(np.ascontiguousarray(out.transpose(1, 2, 0)).astype(np.uint8))
    import torch

    tensor = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None]
    out = image_processor.resize(
        tensor, size=_pixel_bounds(image_processor), resample=image_processor.resample, factor=factor
    )
    return Image.fromarray(out[0].permute(1, 2, 0).numpy())


def _pixel_bounds(image_processor) -> SizeDict:
    s = image_processor.size
    get = s.get if isinstance(s, dict) else lambda k: getattr(s, k, None)
    return SizeDict(
        shortest_edge=get("shortest_edge") or get("min_pixels"), longest_edge=get("longest_edge") or get("max_pixels")
    )


def encode(img: Image.Image, fmt: str = "png", level: int = 1) -> str:
    """A lossless data URL: PNG at ``level`` (1: fast; 6: smaller) or lossless WebP at its fastest effort (every
    pixel kept: an RGB image has no transparent pixels whose colour WebP could drop)."""
    buf = io.BytesIO()
    if fmt == "webp":
        img.save(buf, format="WEBP", lossless=True, quality=0, method=0)
        mime = "image/webp"
    else:
        img.save(buf, format="PNG", compress_level=level)
        mime = "image/png"
    return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode()
