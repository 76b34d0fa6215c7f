"""The embedded models on held-out zoom-world, side by side — the base (before RL: never shown a question → zoom →
answer chain) and the shipped one (after RL): direct (full view, no tool), tool (the agent), tool with the options
hidden (a free-form answer in words), oracle (the ground-truth crop: the upper bound for zooming) and grounding
("Locate X."), by category, with tool-call rates and format errors.

    python benchmarks/embedded_model_report.py [--models base shipped] [--n 500] [--seed 2] [--out runs/report]

Prints one line per figure, ``name: base | shipped``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from deepeyes_agent.backends import SamplingParams, TransformersBackend
from deepeyes_agent.data.zoomworld import generate
from deepeyes_agent.eval.runner import EvalConfig, run_eval
from deepeyes_agent.graphs import AgentConfig
from deepeyes_agent.images import ImageStore
from deepeyes_agent.models import resolve_model_dir

MODES = {
    "direct": ("direct", "shuffle"),
    "tool": ("tool", "shuffle"),
    "tool, no options": ("tool", "none"),
    "oracle": ("oracle", "shuffle"),
    "ground": ("ground", "shuffle"),
}


def report(model: str, data: Path, out: Path) -> dict:
    model_dir = resolve_model_dir(None if model == "shipped" else model)
    backend = TransformersBackend.from_pretrained(model_dir, max_batch_size=32)
    agent = AgentConfig.for_model(
        model_dir, backend.model.config.model_type, sampling=SamplingParams(max_tokens=160, temperature=0.0)
    )
    store = ImageStore(out / "images")
    results = {}
    for name, (mode, order) in MODES.items():
        t0 = time.time()
        cfg = EvalConfig(
            data=data,
            out=out / name.replace(", ", "-").replace(" ", "_"),
            mode=mode,
            seed=0,
            option_order=order,
            concurrency=32,
        )
        results[name] = run_eval(cfg, backend, agent, store=store)
        results[name]["wall_s"] = time.time() - t0
    d, t, f, o, g = (results[m] for m in MODES)
    cat = lambda r, c: (r.get("per_category") or {}).get(c)  # noqa: E731
    tool = lambda r, c: (r.get("tool_call_rate_per_category") or {}).get(c)  # noqa: E731
    lines = {
        "n": d["n"],
        "direct accuracy — overall / attribute / relative": (
            d["accuracy"],
            cat(d, "attribute"),
            cat(d, "relative_position"),
        ),
        "tool accuracy — overall / attribute / relative": (
            t["accuracy"],
            cat(t, "attribute"),
            cat(t, "relative_position"),
        ),
        "tool-call rate — overall / attribute / relative": (
            t["tool_call_rate"],
            tool(t, "attribute"),
            tool(t, "relative_position"),
        ),
        "tool: zooms holding the whole sign / format errors": (
            t.get("zoom_hit", 0.0) / max(t["tool_call_rate"], 1e-9),
            t["format_error_rate"],
        ),
        "no options shown: accuracy / attribute / tool-call rate": (
            f["accuracy"],
            cat(f, "attribute"),
            f["tool_call_rate"],
        ),
        "oracle accuracy — overall / attribute": (o["accuracy"], cat(o, "attribute")),
        "grounding ('Locate …') zoom hit / tight / mean IoU": (g["zoom_hit"], g["zoom_hit_tight"], g["iou"]),
        "oracle − direct (points) — overall / attribute": (
            100 * (o["accuracy"] - d["accuracy"]),
            100 * ((cat(o, "attribute") or 0) - (cat(d, "attribute") or 0)),
        ),
    }
    lines.update(grounding_breakdown(data, out / "ground" / "rows.jsonl"))
    (out / "report.json").write_text(
        json.dumps({"model": str(model_dir), "figures": lines, "summaries": results}, indent=1, default=str)
    )
    return lines


def fmt(value) -> str:
    if isinstance(value, tuple):
        return " / ".join(fmt(v) for v in value)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["base", "shipped"], help="base, shipped, or model folders")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument(
        "--seed", type=int, default=2, help="zoom-world seed of the held-out set (pretraining never saw it)"
    )
    ap.add_argument("--out", type=Path, default=Path("runs/report"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="6 rows, the shipped model: the script, tested")
    args = ap.parse_args()
    if args.quick:
        args.n, args.models = 6, ["shipped"]
    torch.set_num_threads(args.threads)
    data = args.out / "data" / "zoomworld.jsonl"
    if not data.exists():
        generate(data.parent, args.n, args.seed)
    columns = {m: report(m, data, args.out / Path(m).name) for m in args.models}
    print("figure: " + " | ".join(args.models))
    for name in columns[args.models[0]]:
        print(f"{name}: " + " | ".join(fmt(columns[m].get(name)) for m in args.models))


def grounding_breakdown(data: Path, rows: Path) -> dict:
    """Zoom hit by the number of signs in the scene, and how often the box is centred nearer a distractor
    sign than the named one (the model boxed the wrong sign): separates 'which sign' from 'where exactly'."""
    scenes = {
        r["id"]: (r["extra"]["scene"]["signs"], r["target"]) for r in map(json.loads, data.read_text().splitlines())
    }
    centre = lambda b: ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)  # noqa: E731
    by_count: dict[int, list[tuple[bool, bool]]] = {}
    for row in map(json.loads, rows.read_text().splitlines()):
        if row.get("box") is None:
            continue
        signs, named = scenes[row["id"]]
        target = next(s for s in signs if f"the {s['colour']} sign" == named)
        px, py = centre(row["box"])
        dist = lambda s, px=px, py=py: ((centre(s["box"])[0] - px) ** 2 + (centre(s["box"])[1] - py) ** 2) ** 0.5
        wrong = any(dist(s) < dist(target) for s in signs if s is not target)
        by_count.setdefault(len(signs), []).append((row["zoom_hit"], wrong))
    out = {}
    for n, items in sorted(by_count.items()):
        out[f"grounding, {n} sign(s): n / zoom hit / boxed a distractor"] = (
            f"{len(items)} / {sum(h for h, _ in items) / len(items):.3f} / {sum(w for _, w in items) / len(items):.3f}"
        )
    return out


if __name__ == "__main__":
    main()
