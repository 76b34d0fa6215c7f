"""Run a benchmark through the agent graph and score it.

Modes: ``tool`` — the agent, zooming as it decides; ``direct`` — one turn on the full view, no tool
executed; ``oracle`` — one turn on the crop of the ground-truth box (an upper bound for zooming);
``ground`` — "Locate <target>." prompts, scoring the box (IoU, zoom hit) instead of an answer.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path

from ..answer_match import chosen_option
from ..backends.base import GenerationRequest, RequestRejected, SamplingParams, derive_seed
from ..images import ImageError, ImageStore
from ..judges import Truth, make_judge
from ..prompts import PromptBuilder
from ..rows import EvalRow, RowError, graph_input, order_options, row_image
from ..tools import Toolbox
from ..tools.metrics import call_records, tool_stats
from ..trajectory import Trajectory
from ..zoom import ViewGeometry, map_box
from .boxes import contains, iou, parse_box, tight_hit
from .config import EvalConfig, Mode


def expand_box(box, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    gx, gy = (x2 - x1) * (margin - 1) / 2, (y2 - y1) * (margin - 1) / 2
    return (
        max(0, math.floor(x1 - gx)),
        max(0, math.floor(y1 - gy)),
        min(width, math.ceil(x2 + gx)),
        min(height, math.ceil(y2 + gy)),
    )


def _score_trajectory(row: EvalRow, traj: Trajectory, judge) -> dict:
    chosen = chosen_option(traj.answer, row.options) if row.options is not None else None
    correct = judge(traj.answer, Truth.of(row)) > 0.5 if traj.answer is not None else False
    record = {
        "prediction": traj.answer,
        "options_shown": bool(row.options),
        "chosen": chosen,
        "correct": correct,
        "turns": traj.turns,
        "tool_calls": traj.tool_calls,
        "calls_by_tool": traj.calls_by_tool(),
        "calls": call_records(traj),
        "crops": traj.crops,
        "tool_errors": traj.tool_errors,
        "format_ok": traj.format_ok,
        "stop_reason": traj.stop_reason,
    }
    boxes = [o.box_original for o in traj.observations if o.box_original]
    if row.bbox and boxes:
        record["iou"] = iou(boxes[0], row.bbox)
        record["zoom_hit"] = any(contains(b, row.bbox) for b in boxes)
        record["zoom_hit_tight"] = any(tight_hit(b, row.bbox) for b in boxes)
    return record


async def _episode(graph, row: EvalRow, mode: Mode, cfg: EvalConfig, store: ImageStore, judge, seed: int) -> dict:
    """One row through the agent; ``seed`` is the episode's sampling seed (each row and repeat its own)."""
    if mode == "oracle":
        if row.bbox is None:
            raise ImageError(f"row {row.line}: oracle mode needs a ground-truth bbox")
        original = await asyncio.to_thread(row_image, row)
        crop = store.put(original.crop(expand_box(row.bbox, cfg.oracle_margin, original.width, original.height)))
        inputs = {"image": crop, "question": row.question, "options": list(row.options) if row.options else None}
    else:
        inputs = await asyncio.to_thread(graph_input, row, store)  # decoding a 4K/8K image takes a while
    out = await graph.ainvoke({**inputs, "seed": seed})
    return {**_score_trajectory(row, Trajectory.from_state(out), judge), "_trajectory": out["trajectory"]}


def save_row_trace(folder: Path, rec: dict, trajectory: dict, store: ImageStore) -> Path:
    """``folder/<id>.json`` (trajectory + judgement) and ``folder/<id>.html`` (the viewer page)."""
    from ..page import write_page

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{rec['id']}-seed{rec['seed']}.json"
    judgement = {k: rec[k] for k in ("correct", "chosen", "answer_index", "iou", "zoom_hit") if k in rec}
    path.write_text(json.dumps({"trajectory": trajectory, "reward": judgement}))
    return write_page(path, path.with_suffix(".html"), store)


async def _ground(backend, builder: PromptBuilder, row: EvalRow, frame, max_tokens: int) -> dict:
    if row.bbox is None or not row.target:
        raise ImageError(f"row {row.line}: ground mode needs 'bbox' and 'target'")
    img = await asyncio.to_thread(row_image, row)
    request = GenerationRequest(
        builder.prompt_ids(img, f"Locate {row.target}."), [img], SamplingParams(max_tokens=max_tokens, temperature=0.0)
    )
    completion = await backend.agenerate(request)
    box = parse_box(completion.text)
    if box is None:
        return {"prediction": completion.text, "parsed": False, "iou": 0.0, "zoom_hit": False, "zoom_hit_tight": False}
    geom = ViewGeometry.for_image(img.width, img.height, builder.image_processor)
    original = map_box(box, geom, frame)
    return {
        "prediction": completion.text,
        "parsed": True,
        "box": list(original),
        "iou": iou(original, row.bbox),
        "zoom_hit": contains(original, row.bbox),
        "zoom_hit_tight": tight_hit(original, row.bbox),
    }


async def _run_stream(rows, runner, concurrency: int, progress, on_result) -> None:
    """Run ``runner`` over the rows of an iterator, pulling a row only when one of ``concurrency`` slots is free
    (a streamed table is never read ahead of its episodes); ``on_result(row, result or exception)`` as each
    finishes, so a crash mid-run keeps every finished row."""
    rows = iter(rows)
    pending: set[asyncio.Task] = set()

    async def one(row):
        try:
            result = await runner(row)
        except (ImageError, RequestRejected) as exc:  # this row's input: skip it, reason kept;
            result = exc  # a dead backend (ConnectionError) stops the run
        on_result(row, result)
        progress()

    while True:
        while len(pending) < concurrency and (row := next(rows, None)) is not None:
            pending.add(asyncio.create_task(one(row)))
        if not pending:
            return
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task.exception() is not None:
                for other in pending:
                    other.cancel()
                raise task.exception()


def _finished(path: Path) -> dict[tuple[str, int], dict]:
    """Records already in ``rows.jsonl`` by (line, seed); a torn last line (killed mid-write) is ignored."""
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[(rec["line"], rec["seed"])] = rec
    return done


def _calls_by_tool(records: list[dict]) -> dict[str, float]:
    """Mean calls per episode of each tool (every tool that was called at least once)."""
    totals: dict[str, int] = defaultdict(int)
    for r in records:
        for name, count in (r.get("calls_by_tool") or {}).items():
            totals[name] += count
    return {name: totals[name] / len(records) for name in sorted(totals)}


def summarise(records: list[dict], mode: Mode) -> dict:
    n = len(records)
    summary: dict = {"n": n, "mode": mode}
    if not n:
        return summary
    mean = lambda key: sum(float(r.get(key) or 0) for r in records) / n  # noqa: E731
    if mode == "ground":
        summary.update(
            parsed=mean("parsed"), iou=mean("iou"), zoom_hit=mean("zoom_hit"), zoom_hit_tight=mean("zoom_hit_tight")
        )
        return summary
    by_cat, tools_by_cat = defaultdict(list), defaultdict(list)
    for r in records:
        by_cat[r["category"]].append(r["correct"])
        tools_by_cat[r["category"]].append(r["tool_calls"] > 0)
    with_box = [r for r in records if "iou" in r]
    summary.update(
        accuracy=mean("correct"),
        per_category={c: sum(v) / len(v) for c, v in sorted(by_cat.items())},
        tool_call_rate=sum(1 for r in records if r["tool_calls"] > 0) / n,
        tool_call_rate_per_category={c: sum(v) / len(v) for c, v in sorted(tools_by_cat.items())},
        mean_crops=mean("crops"),
        calls_per_episode_by_tool=_calls_by_tool(records),
        # per tool: calls, errors (rate and kind), latency p50/p95 (records written before latencies were kept: none)
        tools=tool_stats(call for r in records for call in r.get("calls") or []),
        mean_turns=mean("turns"),
        format_error_rate=sum(1 for r in records if not r["format_ok"]) / n,
        answered_rate=sum(1 for r in records if r["prediction"] is not None) / n,
        # an answer that names none of the options shown: kept as written, judged, and counted here
        answers_outside_options=sum(
            1 for r in records if r["prediction"] is not None and r.get("options_shown") and r["chosen"] is None
        )
        / n,
    )
    if len(by_cat) > 1:  # HR-Bench / DeepEyes report the mean over categories (single and cross)
        summary["category_mean"] = sum(summary["per_category"].values()) / len(by_cat)
    groups = defaultdict(list)
    for r in records:
        if r.get("group"):
            groups[(r["group"], r["seed"])].append(r["correct"])
    if groups:  # VLMEvalKit's circular score: a question counts only when every rotation of it is right
        summary["cycle_consistent"] = sum(all(v) for v in groups.values()) / len(groups)
        summary["cycle_groups"] = len(groups)
    if with_box:
        summary.update(
            iou_given_crop=sum(r["iou"] for r in with_box) / len(with_box),
            zoom_hit=sum(r["zoom_hit"] for r in with_box) / n,
            zoom_hit_tight=sum(r["zoom_hit_tight"] for r in with_box) / n,
        )
    return summary


def run_eval(cfg: EvalConfig, backend, agent_config, store: ImageStore | None = None, progress=None) -> dict:
    """Evaluate; writes ``rows.jsonl`` and ``summary.json`` under ``cfg.out`` and returns the summary. Rows are
    read as the episodes need them: a multi-gigabyte table is streamed, never held."""
    from ..datasets import Skipped, open_dataset
    from ..graphs import create_visual_agent

    store = store or ImageStore()
    dataset = open_dataset(cfg.data)
    judge = make_judge(cfg.judge, cfg.judge_url, cfg.judge_model)
    one_turn = agent_config.model_copy(update={"max_turns": 1})
    graph = create_visual_agent(backend, config=agent_config if cfg.mode == "tool" else one_turn, image_store=store)
    builder = Toolbox.for_config(agent_config).prompt_builder(backend.processor)
    frame = agent_config.zoom.effective_frame
    cfg.out.mkdir(parents=True, exist_ok=True)
    rows_path = cfg.out / "rows.jsonl"
    done = _finished(rows_path) if cfg.resume else {}
    all_records, per_sample, skipped = [], [], []
    tick = progress or (lambda: None)

    def runner_for(seed: int):
        if cfg.mode == "ground":
            return lambda r: _ground(backend, builder, r, frame, agent_config.sampling.max_tokens)
        return lambda r: _episode(graph, r, cfg.mode, cfg, store, judge, derive_seed(seed, r.line))

    with rows_path.open("a" if cfg.resume else "w") as f:
        for k in range(cfg.samples):
            seed = cfg.seed + k
            records: dict[int, dict] = {}
            position: dict[int, int] = {}  # row line -> its place among the good rows

            def rows_to_run(seed=seed, records=records, position=position, k=k):
                for item in dataset.rows(stream=True):
                    if isinstance(item, Skipped):
                        if cfg.strict:
                            raise RowError(f"{dataset.path}:{item.line}: {item.reason}")
                        if k == 0:
                            skipped.append({"line": item.line, "reason": item.reason})
                        continue
                    if cfg.limit is not None and len(position) >= cfg.limit:
                        return
                    position[item.line] = len(position)
                    if (item.line, seed) in done:
                        records[position[item.line]] = done[(item.line, seed)]
                        tick()
                        continue
                    yield order_options(item, cfg.option_order, seed, position[item.line])

            def on_result(row, res, seed=seed, records=records, position=position, k=k):
                if isinstance(res, Exception):
                    if cfg.strict:
                        raise res
                    skipped.append({"line": row.line, "id": row.id, "reason": str(res)})
                    return
                trajectory = res.pop("_trajectory", None)
                rec = {
                    "id": row.id,
                    "line": row.line,
                    "seed": seed,
                    "category": row.category,
                    "options": list(row.options) if row.options else None,
                    "answer_index": row.answer_index,
                    **({"answer": row.truth_text} if row.options is None else {}),
                    **({"group": row.group} if row.group else {}),
                    **res,
                }
                if trajectory is not None and k == 0 and position[row.line] < cfg.traces:
                    save_row_trace(cfg.out / "traces", rec, trajectory, store)
                records[position[row.line]] = rec
                f.write(json.dumps(rec) + "\n")
                f.flush()

            asyncio.run(_run_stream(rows_to_run(), runner_for(seed), cfg.concurrency, tick, on_result))
            ordered_records = [records[i] for i in sorted(records)]
            per_sample.append(summarise(ordered_records, cfg.mode))
            all_records.extend(ordered_records)
    # canonical order (row order per seed) so a run and a resumed run write the same file
    rows_path.write_text("".join(json.dumps(rec) + "\n" for rec in all_records))
    summary = summarise(all_records, cfg.mode)
    summary.update(
        seed=cfg.seed, samples=cfg.samples, option_order=cfg.option_order, skipped=skipped, data=str(cfg.data)
    )
    if cfg.samples > 1:
        for key in ("accuracy", "tool_call_rate", "zoom_hit", "iou"):
            values = [s[key] for s in per_sample if key in s]
            if len(values) > 1:
                summary[f"{key}_std"] = statistics.stdev(values)
    (cfg.out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
