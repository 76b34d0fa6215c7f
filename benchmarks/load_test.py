"""Load: N concurrent agent episodes against one backend for a while; errors and memory over time.

    python benchmarks/load_test.py --concurrency 32 --seconds 180 [--model DIR]
    python benchmarks/load_test.py --backend server [--server-url URL]   # a vLLM server (started here if no URL)
    python benchmarks/load_test.py --image-size 8k --concurrency 64 --episodes 2000   # 7680×4320 originals

With ``--image-size 8k`` every scene is a 7680×4320 original (the model sees its processor's view; crops come from
the original): the report adds the RSS growth per in-flight episode against one decoded original (goal ≤ 1.5×) and
what the image store holds at the end (its documented retention: ``cache_bytes`` of pixels in memory, ``max_bytes``
of PNGs on disk).

Episodes are zoom-world questions and "zoom in on the <colour> sign" instructions (which make the
embedded model call the tool, so crops are cut, stored and fed back). The transformers backend
gathers the concurrent requests into batches. Prints episodes/s, errors, and the process RSS after
warm-up vs at the end (the bound is on their ratio and difference) — and with a server started here,
the server's processes' RSS too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from pathlib import Path

from deepeyes_agent.backends import SamplingParams, ServerBackend, TransformersBackend
from deepeyes_agent.data.zoomworld import generate
from deepeyes_agent.graphs import AgentConfig, create_visual_agent
from deepeyes_agent.images import ImageStore
from deepeyes_agent.models import default_model_dir
from deepeyes_agent.serving import ServeConfig, VLLMServer


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def group_rss_mb(pgid: int) -> float:
    """RSS of every process in process group ``pgid`` (a server started here: its API and engine processes)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # field 5 of /proc/PID/stat: process group
                total += int(fields[21]) * 4096  # field 24: resident pages
        except (OSError, IndexError, ValueError):
            continue
    return total / 1024**2


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--seconds", type=float, default=180)
    p.add_argument(
        "--warmup-rounds", type=int, default=10, help="rounds before the RSS baseline (allocator caches fill first)"
    )
    p.add_argument("--model", type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=["transformers", "server"], default="transformers")
    p.add_argument("--server-url", help="a running vLLM server serving --model (default: start one)")
    p.add_argument(
        "--server-concurrency",
        type=int,
        help="requests in flight to the server (ServerBackend's bound; default: --concurrency). Episodes beyond it "
        "wait in the client with their images: the client's memory per episode is measured all the same, and the "
        "server decodes fewer 8K originals at once",
    )
    p.add_argument("--image-size", choices=["scene", "8k"], default="scene", help="8k: 7680×4320 originals")
    p.add_argument(
        "--episodes", type=int, default=None, help="stop after this many measured episodes, warm-up rounds not counted"
    )
    p.add_argument("--quick", action="store_true", help="a few rounds of a few episodes: the script itself, tested")
    args = p.parse_args()
    if args.quick:
        args.concurrency, args.warmup_rounds, args.episodes = 4, 1, 8
    work = Path(tempfile.mkdtemp(prefix="deepeyes-load-"))
    rows = [json.loads(line) for line in open(generate(work / "zw", 64, seed=args.seed))]
    if args.image_size == "8k":  # the same scenes at 8K (questions and boxes scale with them)
        from PIL import Image

        for row in rows:
            path = work / "zw" / row["image"]
            Image.open(path).convert("RGB").resize((7680, 4320), Image.BICUBIC).save(path, compress_level=1)
    model_dir = args.model or default_model_dir()
    server = None
    server_concurrency = (args.server_concurrency or args.concurrency) if args.backend == "server" else None
    if args.backend == "server":
        if not args.server_url:
            server = VLLMServer(ServeConfig(model=model_dir, port=8766, max_images=4), log=work / "vllm.log").start()
        backend = ServerBackend(args.server_url or server.url, model_dir, concurrency=server_concurrency)
    else:
        backend = TransformersBackend.from_pretrained(model_dir)
    server_rss = (lambda: round(group_rss_mb(server.process.pid), 1)) if server else (lambda: None)
    config = AgentConfig.for_model(
        model_dir, max_turns=3, sampling=SamplingParams(max_tokens=96, temperature=1.0, seed=args.seed)
    )
    store = ImageStore(work / "images", max_bytes=256 * 1024**2)
    graph = create_visual_agent(backend, config=config, image_store=store)
    rng = random.Random(args.seed)

    def inputs():
        row = rng.choice(rows)
        image = str(work / "zw" / row["image"])
        if rng.random() < 0.5:
            return {"image": image, "question": f"Zoom in on {row['target']}."}
        return {"image": image, "question": row["question"], "options": row["options"]}

    rss_base = rss_mb()  # the model loaded, no episode yet
    episodes = errors = crops = rounds = 0
    rss_warm = None
    samples = []
    start = time.time()
    while True:
        batch = [inputs() for _ in range(args.concurrency)]
        outs = asyncio.run(graph.abatch(batch, config={"max_concurrency": args.concurrency}, return_exceptions=True))
        rounds += 1
        for out in outs:
            if isinstance(out, Exception):
                errors += 1
                print(f"error: {out!r}")
            else:
                episodes += 1
                crops += out["trajectory"]["crops"]
        samples.append((round(time.time() - start, 1), round(rss_mb(), 1), server_rss()))
        if rounds == args.warmup_rounds:
            rss_warm, t_warm, ep_warm, server_warm = rss_mb(), time.time(), episodes, server_rss()
        if rss_warm is not None and (
            episodes - ep_warm >= args.episodes if args.episodes else time.time() - start >= args.seconds
        ):
            break
    rss_end, server_end = rss_mb(), server_rss()
    store.flush()
    # one decoded original as this process holds it: Pillow stores an RGB pixel in 4 bytes (127 MB for 8K)
    decoded_mb = 7680 * 4320 * 4 / 2**20 if args.image_size == "8k" else None
    retention = {
        "store_memory_mb": round(store._cached / 2**20, 1),
        "store_cache_limit_mb": store.cache_bytes // 2**20,
        "store_disk_mb": round(sum(f.stat().st_size for f in (work / "images").glob("*.png")) / 2**20, 1),
        "store_disk_limit_mb": store.max_bytes // 2**20,
    }
    if server:
        server.stop()
    rate = (episodes - ep_warm) / (time.time() - t_warm)  # the rounds after the warm-up
    print(
        json.dumps(
            {
                "concurrency": args.concurrency,
                "server_concurrency": server_concurrency,
                "seconds": round(time.time() - start),
                "rounds": rounds,
                "episodes": episodes,
                "errors": errors,
                "crops": crops,
                "episodes_per_s": round(rate, 2),
                "rss_mb_after_warmup": round(rss_warm, 1),
                "rss_mb_end": round(rss_end, 1),
                "rss_growth_mb": round(rss_end - rss_warm, 1),
                "rss_ratio_end_vs_warm": round(rss_end / rss_warm, 3),
                "rss_mb_before_episodes": round(rss_base, 1),
                "rss_growth_per_in_flight_episode_mb": round((rss_end - rss_base) / args.concurrency, 1),
                **(
                    {
                        "decoded_original_mb": round(decoded_mb, 1),
                        "growth_per_episode_vs_original": round(
                            (rss_end - rss_base) / args.concurrency / decoded_mb, 2
                        ),
                        # the store's memory cache is a fixed budget (cache_bytes), not per episode
                        "growth_per_episode_vs_original_less_store_cache": round(
                            (rss_end - rss_base - store._cached / 2**20) / args.concurrency / decoded_mb, 2
                        ),
                    }
                    if decoded_mb
                    else {}
                ),
                **retention,
                "backend": args.backend,
                "server_rss_mb_after_warmup": server_warm,
                "server_rss_mb_end": server_end,
                "rss_samples": samples,
            }
        )
    )


if __name__ == "__main__":
    main()
