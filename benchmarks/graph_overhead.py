"""The graph's own cost per turn, with the model taken out: an instant backend plays pre-tokenised turns, and the
same episodes run once through the LangGraph agent and once through a bare loop doing the same work (decode,
prompt ids, parse, crop, observation ids, the request's images).

Episodes: "Zoom in on …" instructions and questions, 1–3 crops each, on a 1-MP and an 8K (7680×4320) image;
sequential and 64 concurrent. Prints per-turn milliseconds (p50, p99, first decode excluded), episodes/s, and the
graph / bare-loop ratio (goal ≤ 1.05×; ≤ 5 ms of graph work per turn on the 1-MP image): medians of ``--repeats``
interleaved rounds (bare, graph, bare, …), each round's ratio in the JSON. ``--profile`` prints the cProfile top lines
of one more, untimed, sequential pass.

    python benchmarks/graph_overhead.py --episodes 64 --out runs/graph_overhead
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from PIL import Image  # noqa: E402

from deepeyes_agent.backends import GenerationRequest, SamplingParams  # noqa: E402
from deepeyes_agent.backends.base import Completion  # noqa: E402
from deepeyes_agent.graphs import AgentConfig, create_visual_agent  # noqa: E402
from deepeyes_agent.images import ImageStore, load_image  # noqa: E402
from deepeyes_agent.models import default_model_dir, load_processor  # noqa: E402
from deepeyes_agent.parser import parse_turn  # noqa: E402
from deepeyes_agent.prompts import PromptBuilder  # noqa: E402
from deepeyes_agent.tools import Toolbox  # noqa: E402
from deepeyes_agent.trajectory import Trajectory  # noqa: E402
from deepeyes_agent.zoom import view_of, zoom  # noqa: E402


class InstantBackend:
    """Pre-tokenised completions, returned at once: turn k of an episode is ``scripts[episode][k]``. The episode is
    told by the question (each episode's question is unique)."""

    def __init__(self, processor, scripts: dict[str, list[str]], prompts: dict[str, list[int]]):
        self.processor = processor
        tok = processor.tokenizer
        self.turns = {
            q: [Completion(tok(t, add_special_tokens=False)["input_ids"], t, [0.0] * 4, "stop") for t in ts]
            for q, ts in scripts.items()
        }
        self.counters: dict[str, int] = {}
        self.prompts = {tuple(ids): q for q, ids in prompts.items()}
        self.lengths = sorted({len(ids) for ids in prompts.values()})

    def _next(self, request: GenerationRequest) -> Completion:
        key = self._episode(request.prompt_ids)
        k = self.counters.get(key, 0)
        self.counters[key] = k + 1
        done = self.turns[key][min(k, len(self.turns[key]) - 1)]
        return Completion(done.token_ids, done.text, [0.0] * len(done.token_ids), "stop")

    def _episode(self, ids: list[int]) -> str:
        for n in self.lengths:
            if (q := self.prompts.get(tuple(ids[:n]))) is not None:
                return q
        raise KeyError("unknown episode")

    def generate(self, requests):
        return [self._next(r) for r in requests]

    async def agenerate(self, request):
        return self._next(request)

    def reset(self):
        self.counters.clear()


def call(box) -> str:
    body = json.dumps({"name": "image_zoom_in_tool", "arguments": {"bbox_2d": box, "label": "the sign"}})
    return f"<think>I zoom in.</think>\n<tool_call>\n{body}\n</tool_call><|im_end|>"


def episodes(n: int) -> dict[str, list[str]]:
    """Unique questions, each with 1–3 crops (in the model's view frame of a ≤ 280-px view) then an answer."""
    scripts = {}
    for i in range(n):
        crops = 1 + i % 3
        question = f"Zoom in on sign number {i}." if i % 2 else f"What pattern is on sign number {i}?"
        boxes = [[20 + 10 * k, 20, 140 + 10 * k, 140] for k in range(crops)]
        scripts[question] = [call(b) for b in boxes] + ["<think>done</think>\n<answer>checkerboard</answer><|im_end|>"]
    return scripts


_DECODED: dict[str, Image.Image] = {}


def bare_episode(backend, builder: PromptBuilder, path: str, question: str, config: AgentConfig) -> tuple[int, float]:
    """The same work as the graph, no graph (a file is decoded once, as the graph's store does): returns (turns,
    seconds after the decode)."""
    image = _DECODED.get(path) or _DECODED.setdefault(path, load_image(path))
    t0 = time.perf_counter()
    ids = builder.prompt_ids(image, question, None)
    images, turns = [image], 0
    for _ in range(config.max_turns):
        done = backend.generate([GenerationRequest(list(ids), list(images), config.sampling)])[0]
        turns += 1
        ids += done.token_ids
        parsed = parse_turn(done.text)
        if parsed.answer is not None or parsed.tool_call is None or turns >= config.max_turns:
            break
        geom, zcfg = view_of(image.width, image.height, builder.image_processor, config.zoom)
        result = zoom(image, parsed.tool_call.arguments, geom, zcfg)  # the zoom alone: what the graph runs here
        ids += builder.observation_ids(result.crop)
        images.append(result.crop)
    return turns, time.perf_counter() - t0


async def abare_episode(backend, builder, path, question, config):
    return await asyncio.to_thread(bare_episode, backend, builder, path, question, config)


def per_turn(samples: list[tuple[int, float]]) -> dict:
    ms = [1000 * s / t for t, s in samples]
    turns = sum(t for t, _ in samples)
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(sorted(ms)[int(0.99 * (len(ms) - 1))], 2),
        "turns": turns,
    }


def run(size: tuple[int, int], n: int, concurrency: int, processor, folder: Path, profile: bool, repeats: int) -> dict:
    path = folder / f"scene_{size[0]}x{size[1]}.png"
    if not path.exists():
        Image.new("RGB", size, (120, 140, 160)).save(path, compress_level=1)
    scripts = episodes(n)
    config = AgentConfig.for_model(default_model_dir(), sampling=SamplingParams(max_tokens=64, temperature=0.0))
    builder = Toolbox.for_config(config).prompt_builder(processor)  # the graph's own prompt
    image = load_image(path)
    backend = InstantBackend(processor, scripts, {q: builder.prompt_ids(image, q, None) for q in scripts})
    _DECODED[str(path)] = image  # both loops start with the file decoded
    store = ImageStore(folder / "store")
    graph = create_visual_agent(backend, config=config, image_store=store)
    questions = list(scripts)
    out = {}

    graph.invoke({"image": str(path), "question": questions[0]})  # the file decoded once, as in the bare loop
    for label, conc in (("sequential", 1), (f"{concurrency} concurrent", concurrency)):
        rounds = []  # (bare seconds, graph seconds), interleaved: a slow spell of the machine hits both alike
        bare_turns, graph_turns = [], []
        for _ in range(repeats):
            backend.reset()
            t0 = time.perf_counter()
            if conc == 1:
                bare = [bare_episode(backend, builder, str(path), q, config) for q in questions]
            else:
                bare = asyncio.run(
                    _gather([abare_episode(backend, builder, str(path), q, config) for q in questions], conc)
                )
            t_bare = time.perf_counter() - t0
            backend.reset()
            t0 = time.perf_counter()
            if conc == 1:
                timed = []
                for q in questions:
                    t = time.perf_counter()
                    traj = Trajectory.from_state(graph.invoke({"image": str(path), "question": q}))
                    timed.append((traj.turns, time.perf_counter() - t))
            else:
                outs = asyncio.run(
                    graph.abatch(
                        [{"image": str(path), "question": q} for q in questions], config={"max_concurrency": conc}
                    )
                )
                timed = [(Trajectory.from_state(o).turns, 0.0) for o in outs]
            t_graph = time.perf_counter() - t0
            rounds.append((t_bare, t_graph))
            bare_turns += bare
            graph_turns += timed
        if profile and conc == 1:  # one more sequential pass, profiled (not timed)
            backend.reset()
            prof = cProfile.Profile()
            prof.enable()
            for q in questions:
                graph.invoke({"image": str(path), "question": q})
            prof.disable()
            text = io.StringIO()
            pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(18)
            out["profile"] = text.getvalue()
        turns = sum(t for t, _ in bare)
        t_bare = statistics.median(b for b, _ in rounds)
        t_graph = statistics.median(g for _, g in rounds)
        out[label] = {
            "rounds": len(rounds),
            "bare_episodes_per_s": round(n / t_bare, 2),
            "graph_episodes_per_s": round(n / t_graph, 2),
            "graph_vs_bare": round(t_graph / t_bare, 3),
            "graph_vs_bare_per_round": [round(g / b, 3) for b, g in rounds],
            "turns": turns,
            "graph_ms_per_turn": round(1000 * t_graph / turns, 2),
            "bare_ms_per_turn": round(1000 * t_bare / turns, 2),
        }
        if conc == 1:
            out[label]["graph_per_turn_after_decode"] = per_turn(graph_turns)
            out[label]["bare_per_turn_after_decode"] = per_turn(bare_turns)
    return out


async def _gather(coros, limit):
    gate = asyncio.Semaphore(limit)

    async def one(c):
        async with gate:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--sizes", default="1280x800,7680x4320")
    parser.add_argument("--out", type=Path, default=Path("runs/graph_overhead"))
    parser.add_argument("--profile", action="store_true", help="profile one more sequential round (not timed)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (bare, graph, bare, …); medians")
    parser.add_argument("--quick", action="store_true", help="4 episodes, a small image, one round: the script, tested")
    args = parser.parse_args()
    if args.quick:
        args.episodes, args.concurrency, args.sizes, args.repeats = 4, 4, "640x480", 1
    processor = load_processor(default_model_dir())
    folder = Path(tempfile.mkdtemp(prefix="graph-overhead-"))
    report = {}
    for size in args.sizes.split(","):
        w, h = map(int, size.split("x"))
        report[size] = run((w, h), args.episodes, args.concurrency, processor, folder, args.profile, args.repeats)
        for label, figures in report[size].items():
            if label != "profile":
                print(f"{size} {label}: {json.dumps(figures)}", flush=True)
        if "profile" in report[size]:
            print(report[size]["profile"])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
