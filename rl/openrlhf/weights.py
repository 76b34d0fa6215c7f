"""The weights a rollout engine holds, fingerprinted from inside it.

OpenRLHF's weight sync (an NCCL broadcast, or CUDA IPC when colocated, into vLLM's workers) can no-op silently: the
run goes on, rolling out with the first weights. The only proof that an engine received new weights is what it holds,
so with ``DEEPEYES_OPENRLHF_WEIGHTS_LOG=FILE`` in the workers' environment the agent executor asks its engine (vLLM's
``collective_rpc``, into every worker) for a fingerprint at the start of each episode and appends it to ``FILE``:
``{"time", "pid", "sum", "numel", "dtype", "ranks"}`` — the float64 sum and count of every parameter. A training run
whose fingerprints do not change from one step's rollouts to the next trained nothing the engine saw
(``benchmarks/openrlhf_gpu.sh`` checks this). Unset, nothing is asked. vLLM's CPU build repacks linear layers for
oneDNN (they are no longer parameters), so there the sum covers the weights still held as parameters; on a GPU, all.
"""

from __future__ import annotations

import json
import os
import time

WEIGHTS_LOG_VAR = "DEEPEYES_OPENRLHF_WEIGHTS_LOG"


def fingerprint(worker) -> dict:
    """Runs in a vLLM worker (``collective_rpc`` passes it the worker): one float64 sum over its parameters, reduced
    on the device without a float64 copy of any of them."""
    import torch

    params = list(worker.model_runner.model.parameters())
    with torch.no_grad():
        total = torch.stack([p.sum(dtype=torch.float64) for p in params]).sum().item()
    return {"sum": total, "numel": sum(p.numel() for p in params), "dtype": str(params[0].dtype).removeprefix("torch.")}


async def engine_fingerprint(llm_engine) -> dict:
    """The fingerprint of the weights ``llm_engine`` (OpenRLHF's ``RolloutRayActor``, as the executor gets it) holds;
    tensor-parallel shards added up."""
    shards = await llm_engine.llm.collective_rpc(fingerprint)
    return {
        "sum": sum(s["sum"] for s in shards),
        "numel": sum(s["numel"] for s in shards),
        "dtype": shards[0]["dtype"],
        "ranks": len(shards),
    }


async def log_engine_weights(llm_engine) -> None:
    """Append the engine's fingerprint to ``$DEEPEYES_OPENRLHF_WEIGHTS_LOG`` when it is set."""
    path = os.environ.get(WEIGHTS_LOG_VAR)
    if not path:
        return
    record = {"time": time.time(), "pid": os.getpid(), **(await engine_fingerprint(llm_engine))}
    with open(path, "a") as f:  # one short line per write: concurrent episodes do not interleave
        f.write(json.dumps(record) + "\n")


def weight_versions(lines) -> list[dict]:
    """The distinct weights the engine held, in the order it first held them: ``{"sum", "numel", "dtype",
    "episodes", "first"}`` (episodes: how many started on those weights)."""
    versions: list[dict] = []
    for record in sorted((json.loads(line) for line in lines if line.strip()), key=lambda r: r["time"]):
        same = next((v for v in versions if v["sum"] == record["sum"] and v["numel"] == record["numel"]), None)
        if same is None:
            versions.append(
                {**{k: record[k] for k in ("sum", "numel", "dtype")}, "episodes": 1, "first": record["time"]}
            )
        else:
            same["episodes"] += 1
    return versions
