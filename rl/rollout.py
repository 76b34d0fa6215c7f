"""Rollouts: the agent graph run n times per prompt, scored by the DeepEyes reward.

No second rollout loop: episodes are ``graph.abatch`` over the same graph ``ask`` and ``eval`` use;
the backend gathers the concurrent requests into batched generation.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from deepeyes_agent.backends.base import derive_seed
from deepeyes_agent.images import ImageError, ImageStore
from deepeyes_agent.judges import Judge, Truth
from deepeyes_agent.rows import EvalRow, graph_input
from deepeyes_agent.trajectory import Trajectory

from .reward import RewardConfig, RewardParts, compute_reward


@dataclass
class Episode:
    row: EvalRow
    group: int
    trajectory: Trajectory
    reward: RewardParts


def collect(
    graph,
    rows: list[EvalRow],
    n: int,
    judge: Judge,
    reward_config: RewardConfig,
    concurrency: int | None = None,
    store: ImageStore | None = None,
    unusable: list[dict] | None = None,
    seed: int | None = None,
    backend=None,
) -> list[Episode]:
    """``n`` episodes per row, ``concurrency`` of them in flight at once (default: all). Rows whose image is a
    table cell are decoded once per row into ``store`` (the graph's image store); a row whose image cannot be
    used is left out of this step and reported in ``unusable`` (``{"line", "reason"}``). With ``seed``, episode
    k samples from its own seed (``derive_seed(seed, k)``): the n rollouts of a row differ, and the same seed
    gives the same episodes whatever the batching. ``backend`` (the graph's, if it batches in-process) is told how
    many episodes start at once, so their first turns run as one batch."""
    usable, per_row = [], []
    for row in rows:
        try:
            per_row.append(graph_input(row, store or ImageStore()))
            usable.append(row)
        except ImageError as exc:
            if unusable is None:
                raise
            unusable.append({"line": row.line, "reason": str(exc)})
    inputs = [dict(per_row[i]) for i in range(len(usable)) for _ in range(n)]
    if seed is not None:
        for k, episode_input in enumerate(inputs):
            episode_input["seed"] = derive_seed(seed, k)
    in_flight = min(concurrency or len(inputs), len(inputs))
    if hasattr(backend, "expect"):
        backend.expect(in_flight)
    outputs = asyncio.run(graph.abatch(inputs, config={"max_concurrency": max(1, in_flight)}))
    episodes = []
    for k, out in enumerate(outputs):
        row = usable[k // n]
        traj = Trajectory.from_state(out)
        if not traj.prompt_ids:
            raise TypeError(
                "this graph's policy is a chat model: its trajectories carry no token ids or logprobs. "
                "RL trains on tokens — build the graph on a token-level backend (TransformersBackend, vLLM)"
            )
        episodes.append(Episode(row, k // n, traj, compute_reward(traj, Truth.of(row), judge, reward_config)))
    return episodes
