"""Hostile images: every one either loads correctly or fails with an ImageError naming the file."""

import io
import struct
import zlib

import pytest
from conftest import answer
from PIL import Image, PngImagePlugin

from deepeyes_agent.backends import ScriptedBackend
from deepeyes_agent.graphs import create_visual_agent
from deepeyes_agent.images import ImageError, load_image


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width``×``height`` (a decompression bomb's calling card)."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = data[12:29]  # type + 13 bytes of IHDR body
    body = struct.pack(">II", width, height) + bytes(ihdr[12:17])
    chunk = b"IHDR" + body
    data[12:29] = chunk
    data[29:33] = struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF)
    return bytes(data)


def _text_chunk() -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "made by a camera")
    return info


def _truncated_png(size=(400, 300)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, "red").save(buf, format="PNG")
    return buf.getvalue()[: len(buf.getvalue()) // 2]


def _save_huge_text_png(path) -> None:
    """A 10×10 PNG whose zipped text chunk inflates to 64 MB, past Pillow's text limit."""
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * (64 * 1024 * 1024), zip=True)
    Image.new("RGB", (10, 10)).save(path, pnginfo=info)


def test_decompression_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(30000, 30000))
    with pytest.raises(ImageError, match="bomb.png.*decompression-bomb"):
        load_image(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.png"
    path.write_bytes(_truncated_png())
    with pytest.raises(ImageError, match="cut.png: cannot decode"):
        load_image(path)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(ImageError, match="notes.png"):
        load_image(path)


def test_huge_text_chunk(tmp_path):
    path = tmp_path / "text.png"
    _save_huge_text_png(path)
    with pytest.raises(ImageError, match="text.png"):
        load_image(path)


@pytest.mark.parametrize("mode, colour", [("I;16", 40000), ("P", 3), ("CMYK", (0, 255, 255, 0)), ("LA", (120, 128))])
def test_unusual_modes_become_rgb(mode, colour, tmp_path):
    img = Image.new(mode, (32, 16), colour)
    out = load_image(img)
    assert out.mode == "RGB" and out.size == (32, 16)
    if mode == "I;16":
        assert out.getpixel((0, 0))[0] == 40000 // 256


def test_alpha_is_composited_on_white():
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert load_image(rgba).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied_before_boxes(tmp_path):
    img = Image.new("RGB", (300, 100), "blue")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif)
    assert load_image(path).size == (100, 300)


def test_an_unrotated_image_is_not_copied_at_load(tmp_path, monkeypatch):
    """An 8K original is 127 MB in Pillow (4 bytes a pixel): decoded once, not copied again by exif_transpose
    (which copies even when there is nothing to turn) — only an image that carries a rotation is transposed."""
    from PIL import ImageOps

    path = tmp_path / "plain.png"
    Image.new("RGB", (64, 48), (1, 2, 3)).save(path, pnginfo=_text_chunk())
    real = ImageOps.exif_transpose
    monkeypatch.setattr(ImageOps, "exif_transpose", lambda *a, **k: pytest.fail("copied an unrotated image"))
    assert load_image(path).size == (64, 48)
    monkeypatch.setattr(ImageOps, "exif_transpose", real)
    rotated = Image.new("RGB", (64, 48))
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated.info["exif"] = exif.tobytes()
    turned = load_image(rotated)
    assert turned.size == (48, 64) and rotated.size == (64, 48)  # a caller's image is never modified


def test_animated_gif_gives_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (20, 20), c) for c in ("red", "green", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert load_image(path).getpixel((0, 0))[0] > 200  # red


@pytest.mark.parametrize("size", [(1, 1), (20000, 200)])
def test_tiny_and_strip_images_run_through_the_graph(size, processor, store, tmp_path):
    path = tmp_path / "odd.png"
    Image.new("RGB", size, "gray").save(path)
    graph = create_visual_agent(ScriptedBackend(processor, [answer("gray")]), image_store=store)
    assert graph.invoke({"image": str(path), "question": "colour?"})["answer"] == "gray"


def test_aspect_over_200_is_a_clear_error(processor, store, tmp_path):
    path = tmp_path / "strip.png"
    Image.new("RGB", (20000, 50)).save(path)
    graph = create_visual_agent(ScriptedBackend(processor, [answer("x")]), image_store=store)
    with pytest.raises(ImageError, match="20000x50.*aspect ratio"):
        graph.invoke({"image": str(path), "question": "q"})


@pytest.mark.slow
def test_memory_stays_bounded_on_hostile_files(tmp_path):
    """Peak RSS of a fresh process that loads every hostile file: growth over the import baseline stays
    under 150 MB (a bomb is refused from its header, never decoded)."""
    import subprocess
    import sys

    files = ["bomb.png", "cut.png", "strip.png", "text.png"]
    (tmp_path / "bomb.png").write_bytes(_png_claiming(60000, 60000))
    (tmp_path / "cut.png").write_bytes(_truncated_png((3000, 3000)))
    Image.new("RGB", (20000, 200), "blue").save(tmp_path / "strip.png")
    _save_huge_text_png(tmp_path / "text.png")
    code = f"""
import resource, pathlib
from deepeyes_agent.images import ImageError, load_image
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for name in {files!r}:
    for _ in range(3):
        try:
            load_image(pathlib.Path({str(tmp_path)!r}) / name)
        except ImageError:
            pass
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    growth_mb = float(out.stdout.strip().splitlines()[-1])
    print(f"hostile files: peak RSS growth {growth_mb:.1f} MB")
    assert growth_mb < 150, f"peak RSS grew {growth_mb:.0f} MB"
