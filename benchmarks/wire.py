"""Images on the wire to a vLLM server: bytes per request and the client's CPU time to encode, for an 8K original,
before (the original as PNG, what the server backend sent) and after (the model's view, resized by the served
processor's own resize, in each lossless encoding, each checked to decode to the view's exact pixels). The server
backend sends lossless WebP. The pixels the server computes are identical either way
(tests/test_server_backend.py, tests/test_vllm.py).

    python benchmarks/wire.py --max-pixels 12845056     # Qwen2.5-VL's default view (12.8 MP)
    python benchmarks/wire.py                           # the embedded model's bounds: its view is not a fixed point
                                                        # of the server's resize, so the original is what is sent
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from deepeyes_agent.backends.wire import encode, view_image  # noqa: E402
from deepeyes_agent.data.zoomworld import make_scene, render_scene  # noqa: E402
from deepeyes_agent.models import default_model_dir, load_processor  # noqa: E402


def photo_like(width: int, height: int) -> Image.Image:
    """A zoom-world scene up-scaled, with sensor-like noise so it compresses like a photograph, not a drawing."""
    img = render_scene(make_scene(random.Random(0), n_signs=3)).resize((width, height), Image.BICUBIC)
    noise = np.random.default_rng(0).normal(0, 6, (height, width, 3))
    return Image.fromarray(np.clip(np.asarray(img, dtype=np.float32) + noise, 0, 255).astype(np.uint8))


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-pixels", type=int, default=None, help="the served processor's max_pixels")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one repeat of a 1080p original: the script, tested")
    args = parser.parse_args()
    width, height = (1920, 1080) if args.quick else (7680, 4320)
    if args.quick:
        args.repeats = 1
    ip = load_processor(default_model_dir()).image_processor
    if args.max_pixels:
        ip.size = {**dict(ip.size), "longest_edge": args.max_pixels} if isinstance(ip.size, dict) else ip.size
        ip.size.longest_edge = args.max_pixels if not isinstance(ip.size, dict) else ip.size["longest_edge"]
        ip.max_pixels = args.max_pixels
    original = photo_like(width, height)
    rows = {}
    t, url = timed(lambda: encode(original, "png", 1), args.repeats)
    rows["before: original, PNG level 1"] = (t, len(url))
    t_view, view = timed(lambda: view_image(original, ip), args.repeats)
    for name, fmt, level in (
        ("PNG level 1", "png", 1),
        ("PNG level 6", "png", 6),
        ("PNG level 0", "png", 0),
        ("WebP lossless", "webp", 0),
    ):
        t, url = timed(lambda fmt=fmt, level=level: encode(view, fmt, level), args.repeats)
        sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
        assert np.array_equal(np.asarray(sent), np.asarray(view)), f"{name} changed pixels"  # lossless, checked
        rows[f"after: view {view.width}×{view.height}, {name}"] = (t_view + t, len(url))
    base_t, base_b = rows["before: original, PNG level 1"]
    print(f"original {width}×{height} → view {view.width}×{view.height} (max_pixels {args.max_pixels or 'embedded'})")
    for name, (t, size) in rows.items():
        print(
            f"{name}: {1000 * t:.0f} ms client CPU, {size / 1e6:.2f} MB on the wire "
            f"({base_t / t:.1f}× faster, {base_b / size:.1f}× fewer bytes than before)"
        )
    print(json.dumps({k: {"ms": round(1000 * t, 1), "bytes": b} for k, (t, b) in rows.items()}))


if __name__ == "__main__":
    main()
