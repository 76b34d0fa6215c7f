"""Rollout throughput on vLLM: concurrent graph episodes vs one at a time, and the graph vs a bare loop.

    python benchmarks/rollout_throughput.py                      # starts a vLLM server on the embedded model
    python benchmarks/rollout_throughput.py --server-url URL --model DIR   # a server you started (e.g. on a GPU)
    python benchmarks/rollout_throughput.py --backend vllm       # the in-process vLLM engine

Episodes are greedy zoom-world questions and "Zoom in on <target>." instructions (the latter make the
embedded model call the tool, so episodes have crops and second turns). Measured on the same backend in
one run, after a warm-up pass over all episodes (so every timed phase finds the image store equally
warm), on an engine without prefix or multimodal caching (``NO_CACHE``; else every phase after the first
would reuse the KV and vision work of the one before — pass the same flags to a server you start):

- ``sequential``: the episodes one after another through the graph (``graph.ainvoke``);
- ``concurrent``: the same episodes, N in flight (``graph.abatch``), so vLLM batches them;
- ``bare``: the exact requests the graph sent (recorded), replayed straight to the backend — the same
  prompts, images and decoding, none of the graph (prompt building, parsing, cropping, state) — once one
  at a time and once N in flight.

Each phase runs ``--repeats`` times, interleaved; medians are reported. Prints speed-up = sequential / concurrent (goal ≥ 0.7·N on a GPU) and overhead = graph / bare at both
concurrencies (goal ≤ 1.05×).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

from deepeyes_agent.backends import SamplingParams, ServerBackend, VLLMBackend
from deepeyes_agent.data.zoomworld import generate
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.images import ImageStore
from deepeyes_agent.models import default_model_dir
from deepeyes_agent.serving import ServeConfig, VLLMServer
from deepeyes_agent.trajectory import Trajectory

NO_CACHE = ["--no-enable-prefix-caching", "--mm-processor-cache-gb", "0"]


class Recorder:
    """Passes requests to ``backend`` and keeps them, so the bare loop can replay exactly what the graph sent."""

    def __init__(self, backend):
        self.backend, self.processor = backend, backend.processor
        self.requests: list = []

    async def agenerate(self, request):
        self.requests.append(request)
        return await self.backend.agenerate(request)

    def generate(self, requests):
        self.requests.extend(requests)
        return self.backend.generate(requests)


def episode_inputs(work: Path, n: int, seed: int) -> list[dict]:
    rows = [json.loads(line) for line in open(generate(work / "zw", n, seed=seed))]
    rng = random.Random(seed)
    out = []
    for row in rows:
        image = str(work / "zw" / row["image"])
        if rng.random() < 0.5:
            out.append({"image": image, "question": f"Zoom in on {row['target']}."})
        else:
            out.append({"image": image, "question": row["question"], "options": row["options"]})
    return out


async def timed(coro) -> tuple[float, object]:
    t = time.perf_counter()
    result = await coro
    return time.perf_counter() - t, result


async def measure(
    backend, config: AgentConfig, inputs: list[dict], concurrency: int, store: ImageStore, repeats: int = 3
) -> dict:
    graph = create_visual_agent(backend, config=config, image_store=store)
    await graph.abatch(inputs, config={"max_concurrency": concurrency})  # warm-up

    async def sequential():
        return [await graph.ainvoke(x) for x in inputs]

    recorder = Recorder(backend)
    episodes: list[list] = []
    for x in inputs:  # record each episode's requests (greedy: the same as in the timed runs)
        start = len(recorder.requests)
        await create_visual_agent(recorder, config=config, image_store=store).ainvoke(x)
        episodes.append(recorder.requests[start:])

    async def bare_sequential():
        for reqs in episodes:
            for r in reqs:
                await backend.agenerate(r)

    gate = asyncio.Semaphore(concurrency)

    async def bare_episode(reqs):
        async with gate:
            for r in reqs:
                await backend.agenerate(r)

    times: dict[str, list[float]] = {"sequential": [], "concurrent": [], "bare_sequential": [], "bare_concurrent": []}
    for _ in range(repeats):  # interleaved, so a slow spell of a shared machine hits every phase alike
        t, outs = await timed(sequential())
        times["sequential"].append(t)
        t, outs_conc = await timed(graph.abatch(inputs, config={"max_concurrency": concurrency}))
        times["concurrent"].append(t)
        times["bare_sequential"].append((await timed(bare_sequential()))[0])
        times["bare_concurrent"].append((await timed(asyncio.gather(*(bare_episode(r) for r in episodes))))[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    t_seq, t_conc, t_bare_seq, t_bare_conc = (med[k] for k in times)

    trajs = [Trajectory.from_state(o) for o in outs]
    same = [Trajectory.from_state(o).input_ids() for o in outs_conc] == [t.input_ids() for t in trajs]
    tokens = sum(sum(len(a.token_ids) for a in t.actions) for t in trajs)
    return {
        "episodes": len(inputs),
        "concurrency": concurrency,
        "requests": sum(len(e) for e in episodes),
        "crops": sum(t.crops for t in trajs),
        "generated_tokens": tokens,
        "concurrent_matches_sequential": same,
        "repeats": repeats,
        "median_seconds": {k: round(v, 3) for k, v in med.items()},
        "all_seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "tokens_per_s": {"sequential": round(tokens / t_seq, 1), "concurrent": round(tokens / t_conc, 1)},
        "speedup_concurrent_vs_sequential": round(t_seq / t_conc, 2),
        "speedup_goal": round(0.7 * concurrency, 2),
        "graph_overhead_sequential": round(t_seq / t_bare_seq, 3),
        "graph_overhead_concurrent": round(t_conc / t_bare_conc, 3),
        "overhead_goal": 1.05,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=["server", "vllm"], default="server")
    p.add_argument("--server-url", help="a running server (default: start one on --model)")
    p.add_argument("--served-model", default="deepeyes")
    p.add_argument("--model", type=Path, help="model folder (default: the embedded model)")
    p.add_argument("--episodes", type=int, default=32)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--max-turns", type=int, default=3)
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--repeats", type=int, default=3, help="timed rounds; medians are reported")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="also write the figures here (JSON)")
    p.add_argument("--quick", action="store_true", help="the in-process engine, 2 episodes, one round: tested")
    args = p.parse_args()
    if args.quick:
        args.backend, args.episodes, args.concurrency, args.repeats, args.max_new_tokens = "vllm", 2, 2, 1, 32

    model_dir = args.model or default_model_dir()
    work = Path(tempfile.mkdtemp(prefix="deepeyes-throughput-"))
    inputs = episode_inputs(work, args.episodes, args.seed)
    config = AgentConfig.for_model(
        model_dir, max_turns=args.max_turns, sampling=SamplingParams(max_tokens=args.max_new_tokens, temperature=0.0)
    )
    server = None
    if args.backend == "server" and not args.server_url:
        server = VLLMServer(
            ServeConfig(model=model_dir, port=8765, max_images=args.max_turns + 1, extra_args=NO_CACHE),
            log=work / "vllm.log",
        ).start()
    try:
        url = args.server_url or (server.url if server else None)
        if args.backend == "vllm":
            backend = VLLMBackend(
                model_dir, max_images=args.max_turns + 1, enable_prefix_caching=False, mm_processor_cache_gb=0
            )
        else:
            backend = ServerBackend(url, model_dir, model=args.served_model, concurrency=2 * args.concurrency)
        figures = asyncio.run(
            measure(backend, config, inputs, args.concurrency, ImageStore(work / "images"), args.repeats)
        )
    finally:
        if server:
            server.stop()
    figures.update(
        {
            "backend": args.backend,
            "server_url": url,
            "model": str(model_dir),
            "machine": f"{platform.machine()} {platform.node()}",
            "seed": args.seed,
        }
    )
    print(json.dumps(figures, indent=1))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
