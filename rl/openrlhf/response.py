"""The rollout dict OpenRLHF consumes (``AgentExecutorBase.execute``'s return value), built from a
graph Trajectory, and a checker of that contract.

OpenRLHF (``SamplesGenerator._process_response_into_experience``) turns it into an Experience:
``observation_tokens`` are the training sequence (image pads expanded), ``action_ranges`` mark the
generated spans, ``rollout_log_probs`` align with ``observation_tokens`` (0.0 off the actions), and the
actor's forward gets ``mm_train_inputs`` — the pixel values and grids of EVERY image, in the order
their pads appear.
"""

from __future__ import annotations

import math

import torch

from deepeyes_agent.images import ImageStore
from deepeyes_agent.models.forward import vision_inputs
from deepeyes_agent.tools.metrics import call_records
from deepeyes_agent.trajectory import ActionSegment, Trajectory

from ..reward import RewardParts

REQUIRED_KEYS = (
    "prompt",
    "label",
    "images",
    "mm_train_inputs",
    "reward",
    "scores",
    "observation_tokens",
    "action_ranges",
    "rollout_log_probs",
    "truncated",
    "extra_logs",
)


class ContractError(ValueError):
    """A rollout dict OpenRLHF would mis-train on (each problem listed)."""


def action_ranges(traj: Trajectory) -> list[tuple[int, int]]:
    ranges, pos = [], len(traj.prompt_ids)
    for seg in traj.segments:
        if isinstance(seg, ActionSegment) and seg.token_ids:
            ranges.append((pos, pos + len(seg.token_ids)))
        pos += len(seg.token_ids)
    return ranges


def extra_logs(traj: Trajectory, reward: RewardParts, tool_names: list[str] = ()) -> dict[str, float]:
    """Scalars OpenRLHF averages and logs; the same keys for every sample: per enabled tool its calls, failed
    calls and total latency (ms) in this episode — OpenRLHF's batch means give calls and errors per episode and, over
    calls, the mean latency and error rate."""
    calls = traj.calls_by_tool()
    per_tool = {name: {"errors": 0.0, "latency": 0.0} for name in tool_names}
    for call in call_records(traj):
        if call["tool"] in per_tool:
            per_tool[call["tool"]]["errors"] += call["error_kind"] is not None
            per_tool[call["tool"]]["latency"] += call["latency_ms"] or 0.0
    return {
        **{f"tool_calls/{name}": float(calls.get(name, 0)) for name in tool_names},
        **{f"tool_errors/{name}": per_tool[name]["errors"] for name in tool_names},
        **{f"tool_latency_ms/{name}": per_tool[name]["latency"] for name in tool_names},
        "reward/accuracy": reward.accuracy,
        "reward/format": reward.format,
        "reward/tool": reward.tool,
        "tool_calls": float(traj.tool_calls),
        "tool_errors": float(traj.tool_errors),
        "crops": float(traj.crops),
        "turns": float(traj.turns),
        "answered": float(traj.answer is not None),
    }


def to_openrlhf(
    traj: Trajectory,
    store: ImageStore,
    reward: RewardParts,
    processor,
    *,
    prompt,
    label,
    images,
    with_logprobs: bool = True,
    tool_names: list[str] = (),
) -> dict:
    pil = [store.get(ref) for ref in traj.images]
    mm = vision_inputs(processor.image_processor, pil, torch.float32) or None
    return {
        "prompt": prompt,
        "label": label,
        "images": images,
        "mm_train_inputs": mm,
        "reward": float(reward.total),
        "scores": float(reward.accuracy),
        "observation_tokens": traj.input_ids(),
        "action_ranges": action_ranges(traj),
        "rollout_log_probs": traj.rollout_logprobs() if with_logprobs else None,
        "truncated": bool(traj.truncated),
        "extra_logs": extra_logs(traj, reward, list(tool_names)),
    }


def check_response(response: dict, image_token_id: int, merge_size: int) -> None:
    """Raise :class:`ContractError` listing every way ``response`` breaks OpenRLHF's contract."""
    problems = [f"missing key {k!r}" for k in REQUIRED_KEYS if k not in response]
    if problems:
        raise ContractError("; ".join(problems))
    ids = response["observation_tokens"]
    n = len(ids)
    if not all(isinstance(t, int) for t in ids):
        problems.append("observation_tokens must be a list of ints")
    ranges = response["action_ranges"]
    last = 0
    for start, end in ranges:
        if not (last <= start < end <= n):
            problems.append(f"action range ({start}, {end}) outside [{last}, {n}] or empty or overlapping")
        last = end
    if not ranges:
        problems.append("no action range")
    in_action = [False] * n
    for start, end in ranges:
        for i in range(max(0, start), min(n, end)):
            in_action[i] = True
    logprobs = response["rollout_log_probs"]
    if logprobs is not None:
        if len(logprobs) != n:
            problems.append(f"rollout_log_probs has {len(logprobs)} entries for {n} tokens")
        else:
            for i, (lp, act) in enumerate(zip(logprobs, in_action)):
                if not act and lp != 0.0:
                    problems.append(f"rollout logprob {lp} at non-action position {i}")
                    break
                if act and not (math.isfinite(lp) and lp <= 0.0):
                    problems.append(f"action logprob {lp} at {i} is not a finite log-probability")
                    break
    if response["reward"] is None or not isinstance(response["reward"], (int, float)):
        problems.append(f"reward must be a number, got {response['reward']!r}")
    for key, value in (response["extra_logs"] or {}).items():
        if not isinstance(value, (int, float, bool)):
            problems.append(f"extra_logs[{key!r}] is not a scalar")
    runs = _pad_runs(ids, image_token_id)
    mm = response["mm_train_inputs"]
    if runs and not mm:
        problems.append(f"{len(runs)} images in the ids but no mm_train_inputs")
    elif mm:
        grids = mm["image_grid_thw"].tolist()
        if len(grids) != len(runs):
            problems.append(f"{len(runs)} image pad runs but {len(grids)} image grids")
        for k, ((t, h, w), run) in enumerate(zip(grids, runs)):
            if t * h * w // merge_size**2 != run:
                problems.append(
                    f"image {k}: grid {t}x{h}x{w} needs {t * h * w // merge_size**2} pads, the ids have {run}"
                )
        patches = sum(t * h * w for t, h, w in grids)
        if mm["pixel_values"].shape[0] != patches:
            problems.append(f"pixel_values has {mm['pixel_values'].shape[0]} rows for {patches} patches")
        if any(in_action[i] for i, t in enumerate(ids) if t == image_token_id):
            problems.append("an image pad lies inside an action range")
    if problems:
        raise ContractError("; ".join(problems))


def _pad_runs(ids: list[int], image_token_id: int) -> list[int]:
    runs, prev = [], None
    for t in ids:
        if t == image_token_id:
            if prev == image_token_id:
                runs[-1] += 1
            else:
                runs.append(1)
        prev = t
    return runs
