"""What a step's episodes say: reward and its parts, and the tool-use dynamics DeepEyes reads its three stages from."""

from __future__ import annotations

from deepeyes_agent.eval.boxes import contains, iou
from deepeyes_agent.tools.metrics import call_records, step_tool_metrics

from .rollout import Episode


def step_metrics(episodes: list[Episode]) -> dict:
    """Means over a step's episodes: reward and its parts, and the tool-use dynamics DeepEyes reads its three
    stages from — tool calls and crops per episode, how well the crops land (IoU with the row's box, the share of
    crops that hold the whole target), response length — overall and by category."""
    n = len(episodes)
    answered = [e for e in episodes if e.trajectory.answer is not None]
    out = {
        "reward": sum(e.reward.total for e in episodes) / n,
        "reward/accuracy": sum(e.reward.accuracy for e in episodes) / n,
        "reward/format": sum(e.reward.format for e in episodes) / n,
        "reward/tool": sum(e.reward.tool for e in episodes) / n,
        "tool_call_rate": sum(e.trajectory.tool_calls > 0 for e in episodes) / n,
        "tool_calls_per_episode": sum(e.trajectory.tool_calls for e in episodes) / n,
        "crops_per_episode": sum(e.trajectory.crops for e in episodes) / n,
        "crops_per_answer": sum(e.trajectory.crops for e in answered) / max(1, len(answered)),
        "response_length": sum(sum(len(a.token_ids) for a in e.trajectory.actions) for e in episodes) / n,
        "turns": sum(e.trajectory.turns for e in episodes) / n,
    }
    boxes = [
        (o.box_original, e.row.bbox)
        for e in episodes
        if e.row.bbox
        for o in e.trajectory.observations
        if o.box_original
    ]
    if boxes:
        out["crop_iou"] = sum(iou(b, t) for b, t in boxes) / len(boxes)
        out["crop_holds_target"] = sum(contains(b, t) for b, t in boxes) / len(boxes)
    # per tool: calls per episode, the share of its calls that failed, its latency (median and p95, ms)
    out.update(step_tool_metrics((c for e in episodes for c in call_records(e.trajectory)), n))
    for category in sorted({e.row.category for e in episodes}):
        some = [e for e in episodes if e.row.category == category]
        out[f"tool_call_rate/{category}"] = sum(e.trajectory.tool_calls > 0 for e in some) / len(some)
        out[f"accuracy/{category}"] = sum(e.reward.accuracy for e in some) / len(some)
    return out
