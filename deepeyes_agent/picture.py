"""A picture of a trajectory: the original image with each zoom box drawn and numbered, then the crops."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .images import ImageStore
from .trajectory import Trajectory

BOX_COLOURS = [(230, 40, 40), (40, 160, 240), (250, 170, 0), (160, 60, 220), (20, 180, 90)]


def render_picture(traj: Trajectory, store: ImageStore, *, width: int = 900, crop_height: int = 220) -> Image.Image:
    original = store.get(traj.images[0])
    scale = width / original.width
    view = original.resize((width, max(1, round(original.height * scale))))
    draw = ImageDraw.Draw(view)
    font = ImageFont.load_default(size=22)
    crops = []
    for k, obs in enumerate(o for o in traj.observations if o.image is not None):
        colour = BOX_COLOURS[k % len(BOX_COLOURS)]
        if obs.box_original is not None:  # a crop: its box on the image (a rotation has none)
            x1, y1, x2, y2 = (v * scale for v in obs.box_original)
            draw.rectangle([x1, y1, x2, y2], outline=colour, width=4)
            draw.text((x1 + 4, y1 + 2), str(k + 1), fill=colour, font=font)
        crop = store.get(obs.image)
        crops.append(
            (
                k + 1,
                colour,
                crop.size,
                crop.resize((max(1, round(crop.width * crop_height / crop.height)), crop_height)),
            )
        )
    strip_h = crop_height + 34 if crops else 0
    lines = [
        f"Q: {traj.question}",
        f"A: {traj.answer!r}   (stop: {traj.stop_reason}, turns {traj.turns}, crops {traj.crops}, tool errors {traj.tool_errors})",
    ]
    canvas = Image.new("RGB", (width, view.height + strip_h + 30 * len(lines) + 10), "white")
    canvas.paste(view, (0, 0))
    cdraw = ImageDraw.Draw(canvas)
    x = 0
    for number, colour, size, crop in crops:
        if x + crop.width > width:
            break
        canvas.paste(crop, (x, view.height + 30))
        cdraw.rectangle(
            [x, view.height + 30, x + crop.width - 1, view.height + 29 + crop.height], outline=colour, width=3
        )
        cdraw.text((x + 4, view.height + 4), f"crop {number}: {size[0]}x{size[1]} px", fill=colour, font=font)
        x += crop.width + 10
    small = ImageFont.load_default(size=18)
    for i, line in enumerate(lines):
        cdraw.text((6, view.height + strip_h + 6 + 30 * i), line[:110], fill=(0, 0, 0), font=small)
    return canvas


def save_picture(traj: Trajectory, store: ImageStore, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    render_picture(traj, store).save(path)
    return path
