"""A self-contained HTML page for one trajectory: the image with numbered zoom boxes, each turn's
think text, tool call and crop, the answer, and the reward parts when known.

Images are embedded as data URLs, so the page can be mailed or attached to a bug report.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from PIL import Image

from .images import ImageStore, png_base64
from .picture import BOX_COLOURS
from .tools.metrics import call_records, tool_stats
from .trajectory import ActionSegment, Trajectory

_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;max-width:1100px;color:#222}
.view{position:relative;display:inline-block;max-width:100%}.view img{display:block;max-width:100%}
.view svg{position:absolute;left:0;top:0;width:100%;height:100%}
.turn{border-left:4px solid #ccc;margin:14px 0;padding:6px 12px}.think{color:#555;white-space:pre-wrap}
.call,.err{font-family:monospace;white-space:pre-wrap}.err{color:#b00}.crop img{max-height:260px;border:3px solid}
.answer{font-size:1.3em;margin:18px 0}table{border-collapse:collapse}td{padding:2px 10px;border:1px solid #ddd}
"""


def _data_url(img: Image.Image, max_side: int = 1280) -> tuple[str, float]:
    scale = min(1.0, max_side / max(img.size))
    if scale < 1.0:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    return "data:image/png;base64," + png_base64(img.convert("RGB")), scale


def _hex(colour) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def trajectory_html(
    traj: Trajectory, store: ImageStore, *, reward: dict | None = None, title: str = "deepeyes-agent trajectory"
) -> str:
    original = store.get(traj.images[0])
    url, scale = _data_url(original)
    w, h = round(original.width * scale), round(original.height * scale)
    boxes, turns, crop_no = [], [], 0
    for seg in traj.segments:
        if isinstance(seg, ActionSegment):
            parts = [f'<div class="think">{html.escape(seg.think or "")}</div>']
            for call in seg.tool_calls or ([seg.tool_call] if seg.tool_call else []):
                parts.append(f'<div class="call">tool call: {html.escape(json.dumps(call))}</div>')
            if seg.answer is not None:
                parts.append(f"<div>answer: <b>{html.escape(seg.answer)}</b></div>")
            for e in seg.format_errors:
                parts.append(f'<div class="err">format: {html.escape(e)}</div>')
            turns.append(f'<div class="turn"><b>turn {len(turns) + 1}</b>{"".join(parts)}</div>')
        elif seg.image is not None:
            crop_no += 1
            colour = _hex(BOX_COLOURS[(crop_no - 1) % len(BOX_COLOURS)])
            stroke = max(2, round(min(w, h) / 200))
            if seg.box_original is not None:  # a crop: its box on the image
                x1, y1, x2, y2 = (v * scale for v in seg.box_original)
                boxes.append(
                    f'<rect x="{x1:.1f}" y="{y1:.1f}" width="{x2 - x1:.1f}" height="{y2 - y1:.1f}" fill="none" '
                    f'stroke="{colour}" stroke-width="{stroke}"/><text x="{x1 + 4:.1f}" y="{y1 + 22 * stroke / 2:.1f}" '
                    f'fill="{colour}" font-size="{12 * stroke}" font-weight="bold">{crop_no}</text>'
                )
            crop_url, _ = _data_url(store.get(seg.image), 640)
            review = f" · {seg.review} by a reviewer" if seg.review else ""
            what = (
                f"{seg.tool} · box {seg.box_original} (original px)" if seg.box_original is not None else f"{seg.tool}"
            )
            what += _timing(seg)
            text = f"<br>{html.escape(seg.text)}" if seg.text else ""
            turns.append(
                f'<div class="turn crop">image {crop_no}: {html.escape(what)}{review}<br>'
                f'<img src="{crop_url}" style="border-color:{colour}">{text}</div>'
            )
        elif seg.text is not None:
            turns.append(
                f'<div class="turn">{html.escape(str(seg.tool) + _timing(seg))}: {html.escape(seg.text)}</div>'
            )
        else:
            kind = f" ({seg.error_kind})" if seg.error_kind else ""
            turns.append(
                f'<div class="turn err">{html.escape(str(seg.tool) + _timing(seg) + kind)}: '
                f"{html.escape(seg.error or '')}</div>"
            )
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in (reward or {}).items()
        if not isinstance(v, (list, dict))
    )
    calls = (
        ", ".join(
            f"{name} {t['calls']} ({t['errors']} failed"
            + (f", {t['latency_ms_p50']:.0f} ms median" if "latency_ms_p50" in t else "")
            + ")"
            for name, t in tool_stats(call_records(traj)).items()
        )
        or "none"
    )
    stats = (
        f"stop: {traj.stop_reason} · turns {traj.turns} · crops {traj.crops} · tool errors {traj.tool_errors}"
        f" · calls: {calls}"
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body><h2>{html.escape(traj.question)}</h2>{"<p>options: " + html.escape(" | ".join(traj.options)) + "</p>" if traj.options else ""}
<div class="view"><img src="{url}" width="{w}" height="{h}"><svg viewBox="0 0 {w} {h}">{"".join(boxes)}</svg></div>
<div class="answer">answer: <b>{html.escape(str(traj.answer))}</b></div><p>{stats}</p>
{"<table>" + rows + "</table>" if rows else ""}{"".join(turns)}</body></html>"""


def _timing(seg) -> str:
    return f" · {seg.latency_ms:.0f} ms" if seg.latency_ms is not None else ""


def load_trace(path: str | Path) -> tuple[Trajectory, dict | None]:
    """A trace JSON: a trajectory (``ask --save-json``) or ``{"trajectory": ..., "reward": ...}`` (eval traces)."""
    data = json.loads(Path(path).read_text())
    if "trajectory" in data:
        return Trajectory.from_state(data), data.get("reward")
    return Trajectory.model_validate(data), None


def write_page(trace: str | Path, out_html: str | Path, store: ImageStore, out_png: str | Path | None = None) -> Path:
    from .picture import save_picture

    traj, reward = load_trace(trace)
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(trajectory_html(traj, store, reward=reward, title=Path(trace).name))
    if out_png:
        save_picture(traj, store, out_png)
    return out_html
