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

# Qwen2.5-VL-3B-Instruct's config.json (text and vision), as published.
QWEN25_VL_3B = {
    "architectures": ["Qwen2_5_VLForConditionalGeneration"],
    "model_type": "qwen2_5_vl",
    "hidden_size": 2048,
    "intermediate_size": 11008,
    "num_hidden_layers": 36,
    "num_attention_heads": 16,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128000,
    "rms_norm_eps": 1e-6,
    "vocab_size": 151936,
    "rope_theta": 1000000.0,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "tie_word_embeddings": True,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "image_token_id": 151655,
    "video_token_id": 151656,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
    "vision_config": {
        "depth": 32,
        "hidden_act": "silu",
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "in_chans": 3,
        "out_hidden_size": 2048,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "spatial_patch_size": 14,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2,
        "temporal_patch_size": 2,
    },
}


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def build_checkpoint(folder: Path, min_pixels: int, max_pixels: int) -> float:
    """The 3B architecture with random bf16 weights and the tiny-model kit's tokenizer, whose special tokens are
    placed at Qwen's ids so the config's token ids hold. Returns the weights' size in GB."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from deepeyes_agent.models.processor import ImageOnlyQwenVLProcessor
    from deepeyes_agent.models.tokenizer import build_tokenizer

    config = Qwen2_5_VLConfig(**{k: v for k, v in QWEN25_VL_3B.items() if k not in ("architectures",)})
    tokenizer = build_tokenizer(vocab_size=4096, seed=0)
    ids = tokenizer.convert_tokens_to_ids
    config.image_token_id, config.video_token_id = ids("<|image_pad|>"), ids("<|video_pad|>")
    config.vision_start_token_id, config.vision_end_token_id = ids("<|vision_start|>"), ids("<|vision_end|>")
    config.text_config.eos_token_id = ids("<|im_end|>")
    config.text_config.pad_token_id = ids("<|endoftext|>")
    with torch.device("cpu"):
        torch.set_default_dtype(torch.bfloat16)
        model = Qwen2_5_VLForConditionalGeneration(config)
        torch.set_default_dtype(torch.float32)
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    size = sum(p.numel() * p.element_size() for p in model.parameters()) / 1024**3
    model.save_pretrained(folder)
    processor = ImageOnlyQwenVLProcessor(
        image_processor=Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels),
        tokenizer=tokenizer,
        chat_template=tokenizer.chat_template,
    )
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
    args = parser.parse_args()
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
    report["weights_gb"] = round(build_checkpoint(folder, args.min_pixels, args.max_pixels), 2)
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
