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

from deepeyes_agent.configs import JudgedRunConfig
from deepeyes_agent.eval.config import EvalConfig


class SelectConfig(JudgedRunConfig):
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


KEPT_NAMES = {"jsonl": "kept.jsonl", "vstar-folder": "kept", "hrbench-tsv": "kept.tsv"}


def select(cfg: SelectConfig, backend, agent_config) -> dict:
    """Runs ``k`` direct and ``k`` oracle-crop answers per row, decides, and writes the kept rows in the format
    they came in (``OUT/kept.parquet`` for a parquet, columns intact) next to ``report.json``."""
    from deepeyes_agent.datasets import open_dataset
    from deepeyes_agent.eval.runner import run_eval

    dataset = open_dataset(cfg.data)
    sampling = agent_config.sampling.model_copy(update={"temperature": cfg.temperature, "seed": cfg.seed})
    agent = agent_config.model_copy(update={"sampling": sampling})
    accuracy: dict[int, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    skipped: dict[int, str] = {}
    for mode in ("direct", "oracle"):
        summary = run_eval(
            EvalConfig(
                data=cfg.data,
                out=cfg.out / mode,
                mode=mode,
                seed=cfg.seed,
                samples=cfg.k,
                concurrency=cfg.concurrency,
                judge=cfg.judge,
                judge_url=cfg.judge_url,
                judge_model=cfg.judge_model,
            ),
            backend,
            agent,
        )
        for line in (cfg.out / mode / "rows.jsonl").read_text().splitlines():
            rec = json.loads(line)
            accuracy[rec["line"]][mode].append(rec["correct"])
        for bad in summary["skipped"]:
            if mode == "direct" or "bbox" not in bad["reason"]:  # rows without a box only lose the crop test
                skipped.setdefault(bad["line"], bad["reason"])
    reasons: Counter = Counter()
    report_rows = []
    for line in sorted(set(accuracy) | set(skipped)):
        acc = accuracy.get(line, {})
        if not acc.get("direct"):
            reasons["not evaluated: " + skipped.get(line, "no episode")[:60]] += 1
            continue
        acc_direct = sum(acc["direct"]) / len(acc["direct"])
        acc_crop = sum(acc["oracle"]) / len(acc["oracle"]) if acc.get("oracle") else None
        keep, why = decide(acc_direct, acc_crop, cfg)
        reasons[why] += 1
        report_rows.append({"line": line, "acc_direct": acc_direct, "acc_crop": acc_crop, "kept": keep, "why": why})
    kept_lines = {r["line"] for r in report_rows if r["kept"]}
    kept = dataset.write_subset(kept_lines, cfg.out / KEPT_NAMES.get(dataset.format, "kept.parquet"))
    report = {
        "rows": len(report_rows) + sum(1 for line in skipped if line not in accuracy),
        "kept": len(kept_lines),
        "kept_file": str(kept),
        "reasons": dict(reasons),
        "skipped_rows": [{"line": line, "reason": reason} for line, reason in sorted(skipped.items())],
        "config": cfg.model_dump(mode="json"),
    }
    (cfg.out / "report.json").write_text(json.dumps(report, indent=1))
    (cfg.out / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in report_rows))
    return report
