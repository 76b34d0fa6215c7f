"""A real-size model through the library: Qwen2.5-VL-3B-Instruct's exact configuration (random weights: nothing is
downloaded), its image processor (min_pixels 3,136, max_pixels 12,845,056), bf16 on this machine.

Phases: build and save the checkpoint, load it as the agent would (``TransformersBackend.from_pretrained``), one
``ask`` turn on a 1-MP image and one on an 8K image (7680×4320), then one GRPO step on a 2-episode batch. For each:
seconds, the view the model saw (pixels and image tokens), and the process's peak RSS against the weights' size
(goal ≤ 1.3×). Run:

    python benchmarks/real_size.py --out runs/real_size                 # the 3B config, every phase
    python benchmarks/real_size.py --max-pixels 1003520 --skip-grpo     # a cheaper view of the 8K image

Every phase runs in this one process, so the peak RSS after a phase includes the ones before it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from published_configs import build_model, qwen_processor  # noqa: E402


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def available_bytes() -> int:
    import psutil

    return psutil.virtual_memory().available


def build_checkpoint(folder: Path, min_pixels: int, max_pixels: int, name: str = "3b") -> float:
    """The 3B architecture with random bf16 weights (``published_configs``; ``quick``: a few small layers of it),
    saved with its processor. Returns the weights' size in GB."""
    processor = qwen_processor(min_pixels, max_pixels)
    model = build_model(name, processor, "cpu", torch.bfloat16)
    size = sum(p.numel() * p.element_size() for p in model.parameters()) / 1024**3
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    del model
    return size


def scene(width: int, height: int) -> Image.Image:
    import random

    from deepeyes_agent.data.zoomworld import make_scene, render_scene

    img = render_scene(make_scene(random.Random(0), n_signs=3))
    return img.resize((width, height))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/real_size"))
    parser.add_argument("--min-pixels", type=int, default=3136)
    parser.add_argument("--max-pixels", type=int, default=12845056)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--skip-8k", action="store_true")
    parser.add_argument("--skip-grpo", action="store_true")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument(
        "--quick", action="store_true", help="a few small layers of the architecture: the script, tested"
    )
    args = parser.parse_args()
    if args.quick:
        args.max_pixels = 448 * 448
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "config": "Qwen2.5-VL-3B-Instruct (random weights, bf16)",
        "min_pixels": args.min_pixels,
        "max_pixels": args.max_pixels,
        "threads": args.threads,
        "phases": {},
    }

    def phase(name: str, fn):
        t0 = time.time()
        result = fn() or {}
        report["phases"][name] = {
            "seconds": round(time.time() - t0, 1),
            "peak_rss_gb": round(peak_rss_gb(), 2),
            **result,
        }
        print(f"{name}: {report['phases'][name]}", flush=True)
        (args.out / "report.json").write_text(json.dumps(report, indent=1))

    folder = Path(tempfile.mkdtemp(prefix="qwen25vl3b-"))
    report["weights_gb"] = round(
        build_checkpoint(folder, args.min_pixels, args.max_pixels, "quick" if args.quick else "3b"), 4
    )
    report["baseline_rss_gb"] = round(peak_rss_gb(), 2)
    print(f"weights: {report['weights_gb']} GB", flush=True)

    from deepeyes_agent.backends import SamplingParams, TransformersBackend
    from deepeyes_agent.graphs import AgentConfig, create_visual_agent
    from deepeyes_agent.images import ImageStore
    from deepeyes_agent.trajectory import Trajectory
    from deepeyes_agent.zoom import ViewGeometry

    state: dict = {}
    phase("load", lambda: state.update(backend=TransformersBackend.from_pretrained(folder, dtype=torch.bfloat16)))
    backend = state["backend"]
    store = ImageStore(args.out / "images")
    config = AgentConfig(max_turns=1, sampling=SamplingParams(max_tokens=args.max_new_tokens, temperature=0.0))
    agent = create_visual_agent(backend, config=config, image_store=store)

    def ask(width: int, height: int) -> dict:
        path = args.out / f"scene_{width}x{height}.png"
        if not path.exists():
            scene(width, height).save(path)
        out = agent.invoke({"image": str(path), "question": "What pattern is on the red sign?"})
        traj = Trajectory.from_state(out)
        geom = ViewGeometry.for_image(width, height, backend.processor.image_processor)
        return {
            "image": f"{width}x{height}",
            "view": f"{geom.view_width}x{geom.view_height}",
            "image_tokens": geom.view_width * geom.view_height // 28**2,
            "prompt_tokens": len(traj.prompt_ids),
            "generated": len(traj.response_ids()),
        }

    phase("ask 1 MP", lambda: ask(1280, 800))
    if not args.skip_8k:
        phase("ask 8K", lambda: ask(7680, 4320))
    if not args.skip_grpo:
        from deepeyes_agent.rl.grpo import GRPOConfig, policy_loss
        from deepeyes_agent.rl.tensors import collate_trajectories, token_logprobs

        def grpo_step() -> dict:
            trajs = [
                Trajectory.from_state(agent.invoke({"image": str(args.out / "scene_1280x800.png"), "question": q}))
                for q in ("Which sign is left?", "Colour?")
            ]
            model = backend.model
            model.gradient_checkpointing_enable()
            model.train()
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)  # its state is allocated at the first step
            batch = collate_trajectories(
                trajs,
                [[store.get(r) for r in t.images] for t in trajs],
                backend.processor.image_processor,
                model.config.image_token_id,
                backend.pad_token_id,
                dtype=torch.bfloat16,
            )
            logp, _ = token_logprobs(model, batch)
            loss = policy_loss(
                logp, batch.old_logprobs, torch.tensor([1.0, -1.0]), batch.action_mask, GRPOConfig()
            ).loss
            loss.backward()
            result = {"sequence_tokens": int(batch.input_ids.shape[1]), "loss": loss.item()}
            # AdamW keeps two moments per parameter (2 × the weights again, in their dtype): take the step only if
            # they fit in what this machine has left, and say so otherwise (the gradient is still computed).
            state_bytes = 2 * sum(p.numel() * p.element_size() for p in model.parameters())
            available = available_bytes()
            if state_bytes < 0.9 * available:
                optimizer.step()
                result["optimizer"] = "AdamW step taken"
            else:
                result["optimizer"] = (
                    f"AdamW step skipped: its state ({state_bytes / 1024**3:.1f} GB) exceeds the memory available "
                    f"({available / 1024**3:.1f} GB) after weights and gradients"
                )
            return result

        phase("GRPO step (2 episodes)", grpo_step)
    report["peak_rss_over_weights"] = round(peak_rss_gb() / report["weights_gb"], 2)
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    print(
        f"peak RSS {peak_rss_gb():.2f} GB = {report['peak_rss_over_weights']}× the weights ({report['weights_gb']} GB)"
    )


if __name__ == "__main__":
    sys.exit(main())
