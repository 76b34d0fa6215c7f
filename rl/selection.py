"""Tool-use-oriented data selection (DeepEyes §4.2; their scripts are unpublished, issue #98).

For every row: k sampled answers from the full view with no tool, and k from the crop of the
ground-truth box. Keep a row when
- difficulty: ``min_accuracy < acc_direct < max_accuracy`` (GRPO groups then have reward variance), or
- tool benefit: ``acc_crop − acc_direct ≥ min_benefit`` (zooming is what makes it answerable).
Rows the judge cannot grade (no options) or without a box for the crop criterion are reported.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from pydantic import Field

from deepeyes_agent.configs import RunConfig
from deepeyes_agent.eval.rows import load_rows
from deepeyes_agent.eval.runner import EvalConfig, run_eval


class SelectConfig(RunConfig):
    """Tool-use-oriented data selection: k answers per row without the tool and k from the ground-truth crop."""

    data: Path = Field(description="candidate rows (with ground-truth boxes for the crop test)")
    out: Path = Field(description="writes the kept rows, report.json and rows.jsonl here")
    k: int = Field(8, ge=1, description="sampled answers per row and condition (DeepEyes: 8)")
    temperature: float = Field(1.0, ge=0.0, description="sampling temperature of the k answers")
    min_accuracy: float = Field(0.0, description="drop rows the model always gets wrong without the tool ...")
    max_accuracy: float = Field(1.0, description="... and rows it always gets right")
    min_benefit: float = Field(0.25, description="keep when the crop raises accuracy by at least this much")
    seed: int = Field(0, description="seeds sampling")
    concurrency: int = Field(16, ge=1, description="episodes in flight at once")


def decide(acc_direct: float, acc_crop: float | None, cfg: SelectConfig) -> tuple[bool, str]:
    if acc_crop is not None and acc_crop - acc_direct >= cfg.min_benefit:
        return True, "tool benefit"
    if cfg.min_accuracy < acc_direct < cfg.max_accuracy:
        return True, "mid difficulty"
    if acc_direct >= cfg.max_accuracy:
        return False, "always right without the tool"
    if acc_crop is None:
        return False, "always wrong without the tool (no box to test a crop)"
    return False, "always wrong, and the crop does not help enough"


def select(cfg: SelectConfig, backend, agent_config) -> dict:
    sampling = agent_config.sampling.model_copy(update={"temperature": cfg.temperature, "seed": cfg.seed})
    agent = agent_config.model_copy(update={"sampling": sampling})
    accuracy: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for mode in ("direct", "oracle"):
        run_eval(
            EvalConfig(
                data=cfg.data, out=cfg.out / mode, mode=mode, seed=cfg.seed, samples=cfg.k, concurrency=cfg.concurrency
            ),
            backend,
            agent,
        )
        for line in (cfg.out / mode / "rows.jsonl").read_text().splitlines():
            rec = json.loads(line)
            accuracy[rec["id"]][mode].append(rec["correct"])
    rows, skipped = load_rows(cfg.data)
    lines = cfg.data.read_text().splitlines()
    reasons: Counter = Counter()
    report_rows = []
    cfg.out.mkdir(parents=True, exist_ok=True)
    with (cfg.out / "selected.jsonl").open("w") as kept_file:
        for row in rows:
            acc = accuracy.get(row.id)
            if not acc or not acc["direct"]:
                reasons["not evaluated (image error)"] += 1
                continue
            acc_direct = sum(acc["direct"]) / len(acc["direct"])
            acc_crop = sum(acc["oracle"]) / len(acc["oracle"]) if acc["oracle"] else None
            keep, why = decide(acc_direct, acc_crop, cfg)
            reasons[why] += 1
            report_rows.append(
                {
                    "id": row.id,
                    "line": row.line,
                    "acc_direct": acc_direct,
                    "acc_crop": acc_crop,
                    "kept": keep,
                    "why": why,
                }
            )
            if keep:
                kept_file.write(lines[row.line - 1] + "\n")
    report = {
        "rows": len(rows),
        "kept": sum(r["kept"] for r in report_rows),
        "reasons": dict(reasons),
        "skipped_rows": skipped,
        "config": cfg.model_dump(mode="json"),
    }
    (cfg.out / "report.json").write_text(json.dumps(report, indent=1))
    (cfg.out / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in report_rows))
    return report
