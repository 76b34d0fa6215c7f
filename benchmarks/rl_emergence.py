"""Does tool use emerge every time, and what does the tool bonus do? The RL demo from the base model (never shown a
question → zoom → answer chain) on several seeds, and DeepEyes' reward ablation on one seed: the conditional tool
bonus (DeepEyes), an unconditional one, and none.

    python benchmarks/rl_emergence.py --seeds 0 1 2 3 4 --parallel 2           # the seeds table
    python benchmarks/rl_emergence.py --seeds 0 --ablation --parallel 2         # + unconditional / no bonus

Each run is ``deepeyes-agent train --config rl/demo.yaml --seed S`` (resumable: a finished run is not redone).
Writes ``OUT/table.md`` (held-out accuracy and tool-call rate before and after, by category; the step at which the
sampled tool-call rate first passes 50 %; wall minutes) and ``docs/rl_emergence.png`` / ``docs/rl_ablation.png``:
per step, tool calls and crops per episode, crop IoU with the target's box and the share of crops holding it,
response length, accuracy — the curves DeepEyes reads its three stages of tool use from.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "conditional": [],
    "unconditional": ["--reward-tool-bonus", "unconditional"],
    "none": ["--reward-tool-weight", "0"],
}


def metrics(run: Path) -> list[dict]:
    """One row per step; a resumed run re-does the steps after its last checkpoint, and the later row counts."""
    path = run / "metrics.jsonl"
    rows = [json.loads(t) for t in path.read_text().splitlines()] if path.exists() else []
    return sorted({r["step"]: r for r in rows}.values(), key=lambda r: r["step"])


def finished(run: Path, steps: int) -> bool:
    return any(r.get("step") == steps and "eval/accuracy" in r for r in metrics(run))


def launch(run: Path, seed: int, variant: str, args) -> subprocess.Popen | None:
    if finished(run, args.steps):
        return None
    cmd = [
        sys.executable,
        "-m",
        "deepeyes_agent.cli",
        "train",
        "--config",
        str(args.config),
        "--seed",
        str(seed),
        "--out",
        str(run),
        "--threads",
        str(args.threads),
        "--steps",
        str(args.steps),
        *VARIANTS[variant],
        *args.extra,
    ]
    if (run / "checkpoint" / "COMPLETE").exists():
        cmd.append("--resume")
    run.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=open(run / "train.log", "a"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "DEEPEYES_AGENT_IMAGE_STORE": str(run / "images")},
    )


def first_step_over(rows: list[dict], key: str, level: float) -> int | None:
    return next((r["step"] for r in rows if r.get(key, 0) > level), None)


def summary_row(name: str, run: Path) -> dict:
    rows = metrics(run)
    evals = [r for r in rows if "eval/accuracy" in r]
    before, after = evals[0], evals[-1]
    cats = sorted(k[len("eval/tool_call_rate/") :] for k in after if k.startswith("eval/tool_call_rate/"))
    out = {
        "run": name,
        "before": before["eval/accuracy"],
        "after": after["eval/accuracy"],
        "gain": after["eval/accuracy"] - before["eval/accuracy"],
        "tool_before": before["eval/tool_call_rate"],
        "tool_after": after["eval/tool_call_rate"],
        "tool_rate_passes_50_at": first_step_over(rows, "tool_call_rate", 0.5),
        "minutes": round(sum(r.get("step_s", 0) for r in rows) / 60, 1),
    }
    for c in cats:
        out[f"acc/{c}"] = after.get(f"eval/{c}")
        out[f"tool/{c}"] = after.get(f"eval/tool_call_rate/{c}")
    return out


def table(rows: list[dict]) -> str:
    head = "| run | held-out before → after | gain | tool-call rate before → after | by category (acc / tool) | sampled tool rate > 50 % at step | minutes |"
    lines = [head, "|" + "---|" * 7]
    for r in rows:
        cats = "; ".join(
            f"{k[4:]} {100 * r[k]:.0f} % / {100 * (r.get('tool/' + k[4:]) or 0):.0f} %"
            for k in r
            if k.startswith("acc/") and r[k] is not None
        )
        lines.append(
            f"| {r['run']} | {100 * r['before']:.0f} % → {100 * r['after']:.0f} % | {100 * r['gain']:+.0f} | "
            f"{100 * r['tool_before']:.0f} % → {100 * r['tool_after']:.0f} % | {cats} | "
            f"{r['tool_rate_passes_50_at'] or 'never'} | {r['minutes']} |"
        )
    return "\n".join(lines)


WINDOWS = [(1, 10), (11, 20), (21, 30), (31, 60), (61, 80)]
DYNAMICS = [
    ("tool_calls_per_episode", "tool calls / episode", "{:.2f}"),
    ("crops_per_episode", "crops / episode", "{:.2f}"),
    ("tool_call_rate/attribute", "attribute: zoomed", "{:.0%}"),
    ("tool_call_rate/relative_position", "relative: zoomed", "{:.0%}"),
    ("crop_iou", "crop IoU", "{:.3f}"),
    ("crop_holds_target", "crops holding the sign", "{:.0%}"),
    ("response_length", "response tokens", "{:.0f}"),
    ("reward/accuracy", "accuracy (sampled)", "{:.0%}"),
]


def dynamics(runs: list[Path]) -> str:
    """Means over step windows of the sampled per-step metrics, pooled over ``runs``: the three stages."""
    head = "| steps | " + " | ".join(label for _, label, _ in DYNAMICS) + " |"
    lines = [head, "|" + "---|" * (len(DYNAMICS) + 1)]
    rows = [r for run in runs for r in metrics(run)]
    for lo, hi in WINDOWS:
        cells = []
        for key, _, fmt in DYNAMICS:
            vals = [r[key] for r in rows if lo <= r["step"] <= hi and r.get(key) is not None]
            cells.append(fmt.format(sum(vals) / len(vals)).replace("%", " %") if vals else "—")
        lines.append(f"| {lo}–{hi} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(runs: dict[str, Path], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [
        ("tool_calls_per_episode", "tool calls / episode"),
        ("crops_per_episode", "crops / episode"),
        ("crop_iou", "crop IoU with the target box"),
        ("crop_holds_target", "crops holding the target"),
        ("response_length", "response tokens"),
        ("reward/accuracy", "accuracy (sampled)"),
        ("eval/accuracy", "held-out accuracy (greedy)"),
        ("eval/tool_call_rate", "held-out tool-call rate"),
    ]
    fig, axes = plt.subplots(2, 4, figsize=(18, 7.5))
    for ax, (key, label) in zip(axes.flat, keys):
        for name, run in runs.items():
            rows = [r for r in metrics(run) if key in r]
            if not rows:
                continue
            xs, ys = [r["step"] for r in rows], [r[key] for r in rows]
            if not key.startswith("eval/") and len(ys) >= 5:  # 5-step running mean of the noisy sampled curves
                ys = [sum(ys[max(0, i - 4) : i + 1]) / len(ys[max(0, i - 4) : i + 1]) for i in range(len(ys))]
            ax.plot(xs, ys, label=name)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--ablation", action="store_true", help="also seed 0 with an unconditional and with no bonus")
    parser.add_argument("--config", type=Path, default=ROOT / "rl" / "demo.yaml")
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--parallel", type=int, default=2, help="runs at once (each on --threads torch threads)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "emergence")
    parser.add_argument("--quick", action="store_true", help="seed 0, one small step on 8 rows: the script, tested")
    args = parser.parse_args()
    args.extra, figures = [], ROOT / "docs"
    if args.quick:  # its own small data; the figures stay out of docs/
        from deepeyes_agent.data.zoomworld import generate

        data = generate(args.out / "data" / "train", 8, seed=1)
        heldout = generate(args.out / "data" / "heldout", 4, seed=2)
        args.seeds, args.ablation, args.steps, args.parallel, figures = [0], False, 1, 1, args.out
        args.extra = ["--data", str(data), "--eval-data", str(heldout), "--prompts-per-step", "2",
                      "--rollouts-per-prompt", "2", "--eval-limit", "4", "--max-new-tokens", "32"]  # fmt: skip
    jobs = [(f"seed {s}", args.out / f"seed{s}", s, "conditional") for s in args.seeds]
    if args.ablation:
        jobs += [
            (f"seed {args.seeds[0]}, {v} bonus", args.out / f"seed{args.seeds[0]}-{v}", args.seeds[0], v)
            for v in ("unconditional", "none")
        ]
    pending, running = list(jobs), []
    while pending or running:
        while pending and len(running) < args.parallel:
            name, run, seed, variant = pending.pop(0)
            proc = launch(run, seed, variant, args)
            if proc is not None:
                print(f"started {name}: {run}", flush=True)
                running.append((name, proc))
        for name, proc in list(running):
            if proc.poll() is not None:
                print(f"finished {name} (exit {proc.returncode})", flush=True)
                running.remove((name, proc))
        time.sleep(5)
    done = [(name, run) for name, run, _, v in jobs if v == "conditional" and metrics(run)]
    text = "### Tool use emerging, seed by seed\n\n" + table([summary_row(name, run) for name, run in done])
    conditional = [run for _, run in done]
    text += f"\n\n### Dynamics (sampled, pooled over {len(conditional)} seeds)\n\n" + dynamics(conditional)
    plot(
        {name: run for name, run, _, v in jobs if v == "conditional"},
        figures / "rl_emergence.png",
        "RL from the base model: seed by seed",
    )
    if args.ablation:
        ablation = [summary_row(name, run) for name, run, s, v in jobs if s == args.seeds[0]]
        text += "\n\n### Reward ablation (same seed)\n\n" + table(ablation)
        for name, run, s, _ in jobs:
            if s == args.seeds[0] and metrics(run):
                text += f"\n\nDynamics, {name}:\n\n" + dynamics([run])
        plot(
            {v: run for _, run, s, v in jobs if s == args.seeds[0]},
            figures / "rl_ablation.png",
            "Tool bonus: conditional (DeepEyes) / unconditional / none",
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
