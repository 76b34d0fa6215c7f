"""The embedded model on held-out zoom-world: direct (full view, no tool), tool (the agent, never taught
the chain), oracle (the ground-truth crop: the upper bound for zooming) and grounding ("Locate X.").

    python benchmarks/embedded_model_report.py [--model DIR] [--n 500] [--seed 2] [--out runs/report]

Prints one line per figure, ``name: value``, with the oracle − direct gap (what RL has to win).
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
from deepeyes_agent.models import default_model_dir


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument(
        "--seed", type=int, default=2, help="zoom-world seed of the held-out set (pretraining never saw it)"
    )
    ap.add_argument("--out", type=Path, default=Path("runs/report"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = args.out / "data" / "zoomworld.jsonl"
    if not data.exists():
        generate(data.parent, args.n, args.seed)
    model_dir = args.model or default_model_dir()
    backend = TransformersBackend.from_pretrained(model_dir, max_batch_size=32)
    agent = AgentConfig.for_model(
        model_dir, backend.model.config.model_type, sampling=SamplingParams(max_tokens=96, temperature=0.0)
    )
    store = ImageStore(args.out / "images")
    results = {}
    for mode in ("direct", "tool", "oracle", "ground"):
        t0 = time.time()
        cfg = EvalConfig(data=data, out=args.out / mode, mode=mode, seed=0, concurrency=32)
        results[mode] = run_eval(cfg, backend, agent, store=store)
        results[mode]["wall_s"] = time.time() - t0
    d, t, o, g = (results[m] for m in ("direct", "tool", "oracle", "ground"))
    lines = {
        "n": d["n"],
        "direct accuracy": d["accuracy"],
        "direct attribute": d["per_category"].get("attribute"),
        "direct relative_position": d["per_category"].get("relative_position"),
        "tool accuracy": t["accuracy"],
        "tool call rate": t["tool_call_rate"],
        "tool zoom hit": t.get("zoom_hit", 0.0),
        "oracle accuracy": o["accuracy"],
        "oracle attribute": o["per_category"].get("attribute"),
        "grounding zoom hit": g["zoom_hit"],
        "grounding tight zoom hit": g["zoom_hit_tight"],
        "grounding mean IoU": g["iou"],
        "oracle - direct (points)": 100 * (o["accuracy"] - d["accuracy"]),
        "oracle - direct, attribute (points)": 100
        * ((o["per_category"].get("attribute") or 0) - (d["per_category"].get("attribute") or 0)),
    }
    lines.update(grounding_breakdown(data, args.out / "ground" / "rows.jsonl"))
    for name, value in lines.items():
        print(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}")
    (args.out / "report.json").write_text(json.dumps({"figures": lines, "summaries": results}, indent=1, default=str))


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
