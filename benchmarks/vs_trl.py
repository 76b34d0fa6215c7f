"""This project's local GRPO trainer against TRL's ``GRPOTrainer``, side by side on the same work: the embedded model,
the same single-turn zoom-world prompts (image + question + options; no tool: one turn, as TRL runs it), the same
group size, optimizer, learning rate, clip (ε 0.2), no KL, token-level loss, max lengths, and the same reward
(DeepEyes' 0.8·accuracy + 0.2·format, judged by the same option rules), CPU, the same number of optimizer steps.

Reports, for each trainer, the medians over ``--repeats`` runs of: generation tokens/s (sampled tokens / time in
generation), training tokens/s (every token of the training sequences / time in the loss, backward and optimizer
step) and wall seconds per step — and the ratios ours / TRL (goal ≥ 1.0× on both throughputs).

    pip install -e ".[bench]"                      # TRL
    python benchmarks/vs_trl.py --steps 3 --repeats 3 --out runs/vs_trl
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from deepeyes_agent.data.zoomworld import generate  # noqa: E402
from deepeyes_agent.models import default_model_dir  # noqa: E402


def settings(args) -> dict:
    return {
        "group": args.group,
        "prompts": args.prompts,
        "lr": args.lr,
        "max_new_tokens": args.max_new_tokens,
        "temperature": 1.0,
        "clip": 0.2,
        "kl": 0.0,
        "steps": args.steps,
    }


def run_ours(data: Path, args, seed: int) -> dict:
    from deepeyes_agent.backends import TransformersBackend
    from deepeyes_agent.rl.config import TrainConfig
    from deepeyes_agent.rl.trainer import LocalTrainer

    out = Path(tempfile.mkdtemp(prefix="ours-"))
    cfg = TrainConfig(
        data=data,
        out=out,
        steps=args.steps,
        prompts_per_step=args.prompts,
        rollouts_per_prompt=args.group,
        lr=args.lr,
        max_new_tokens=args.max_new_tokens,
        max_turns=1,
        temperature=1.0,
        seed=seed,
        threads=args.threads,
        micro_batch=args.group * args.prompts,
        save_every=10**6,
        reward={"tool_weight": 0.0},
    )
    # TRL generates a step's prompts × group completions in one generate call; the backend here batches up to
    # max_batch_size in-flight requests (16 by default), so give it the same batch
    backend = TransformersBackend.from_pretrained(default_model_dir(), max_batch_size=args.group * args.prompts)
    trainer = LocalTrainer(cfg, backend=backend)
    timing = new_timing()
    time_generate(backend.model, timing, backend.processor.tokenizer, count_trained=False)
    for step in range(args.steps):
        record = trainer.train_step(step)
        timing["rollout_s"] += record["rollout_s"]
        timing["steps"].append(record["step_s"])
        timing["train_tok"] += record["trained_tokens"]  # only the episodes with an advantage are trained on
    return summary(timing)


def run_trl(data: Path, args, seed: int) -> dict:
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from deepeyes_agent.datasets import load_rows
    from deepeyes_agent.judges import OptionJudge, Truth
    from deepeyes_agent.models import agent_defaults, load_processor
    from deepeyes_agent.parser import parse_turn
    from deepeyes_agent.protocol import user_text
    from deepeyes_agent.rows import order_options

    model_dir = default_model_dir()
    processor = load_processor(model_dir)
    processor.tokenizer.padding_side = "left"
    system = agent_defaults(model_dir).get("system_prompt", "")
    rows = [order_options(r, "shuffle", seed, i) for i, r in enumerate(load_rows(data)[0])]
    from PIL import Image

    records = [
        {
            "prompt": [
                {"role": "system", "content": [{"type": "text", "text": system}]},
                {
                    "role": "user",
                    "content": [{"type": "image"}, {"type": "text", "text": user_text(r.question, list(r.options))}],
                },
            ],
            "image": Image.open(r.image).convert("RGB"),
            "row": i,
        }
        for i, r in enumerate(rows)
    ]
    dataset = Dataset.from_list(records)
    judge = OptionJudge()

    def deepeyes_reward(completions, row, **_):
        out = []
        for completion, i in zip(completions, row):
            text = completion if isinstance(completion, str) else completion[0]["content"]
            turn = parse_turn(text)
            accuracy = judge(turn.answer, Truth.of(rows[i])) if turn.answer is not None else 0.0
            fmt = -1.0 if (turn.format_errors or turn.answer is None) else 0.0
            out.append(0.8 * accuracy + 0.2 * fmt)
        return out

    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    timing = new_timing()
    time_generate(model, timing, processor.tokenizer)

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *_a, **_k):
            timing["t0"] = time.perf_counter()

        def on_step_end(self, *_a, **_k):
            timing["steps"].append(time.perf_counter() - timing["t0"])

    n = args.group * args.prompts
    config = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="trl-"),
        use_cpu=True,
        seed=seed,
        max_steps=args.steps,
        learning_rate=args.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.01,
        max_grad_norm=1.0,
        adam_beta1=0.9,
        adam_beta2=0.999,
        num_generations=args.group,
        per_device_train_batch_size=n,
        generation_batch_size=n,
        gradient_accumulation_steps=1,
        num_iterations=1,
        beta=0.0,
        epsilon=0.2,
        loss_type="dapo",
        scale_rewards="group",
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        max_completion_length=args.max_new_tokens,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        dataloader_num_workers=0,
        disable_dropout=True,
    )
    torch.set_num_threads(args.threads)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=deepeyes_reward,
        args=config,
        train_dataset=dataset,
        processing_class=processor,
        callbacks=[StepTimer()],
    )
    real_rollout = trainer._generate_and_score_completions  # TRL's rollout phase: prompts, generate, rewards

    def timed_rollout(*a, **k):
        t = time.perf_counter()
        out = real_rollout(*a, **k)
        timing["rollout_s"] += time.perf_counter() - t
        return out

    trainer._generate_and_score_completions = timed_rollout
    trainer.train()
    return summary(timing)


def new_timing() -> dict:
    return {"gen_s": 0.0, "gen_tok": 0, "rollout_s": 0.0, "steps": [], "train_tok": 0}


def time_generate(model, timing: dict, tokenizer, count_trained: bool = True) -> None:
    """Wrap ``model.generate`` (both trainers call it): its seconds and the completion tokens it produced (up to and
    including the first <|im_end|>), and (``count_trained``: TRL trains on every sequence it generates) every non-pad
    token of the sequences."""
    real_generate = model.generate
    eos, pad = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.pad_token_id

    def timed_generate(*a, **k):
        t = time.perf_counter()
        out = real_generate(*a, **k)
        timing["gen_s"] += time.perf_counter() - t
        prompt_len = (k.get("input_ids") if k.get("input_ids") is not None else a[0]).shape[1]
        sequences = out.sequences if hasattr(out, "sequences") else out
        for row in sequences[:, prompt_len:]:
            ends = (row == eos).nonzero()
            timing["gen_tok"] += int(ends[0]) + 1 if len(ends) else int((row != pad).sum())
        if count_trained:
            timing["train_tok"] += int((sequences != pad).sum())
        return out

    model.generate = timed_generate


def summary(timing: dict) -> dict:
    """Generation: tokens per second of ``model.generate``; rollout: the same tokens per second of the whole rollout
    phase (prompts, images, generate, rewards); training: trained tokens per second of the rest of the step."""
    train_s = sum(timing["steps"]) - timing["rollout_s"]
    return {
        "generation_tokens_per_s": timing["gen_tok"] / timing["gen_s"],
        "rollout_tokens_per_s": timing["gen_tok"] / timing["rollout_s"],
        "training_tokens_per_s": timing["train_tok"] / max(train_s, 1e-9),
        "seconds_per_step": statistics.median(timing["steps"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/vs_trl"))
    parser.add_argument("--quick", action="store_true", help="one step of 2 prompts × 2, once: the script, tested")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeats, args.prompts, args.group, args.max_new_tokens = 1, 1, 2, 2, 16
    data = generate(Path(tempfile.mkdtemp(prefix="vs-trl-")), 64, seed=4)
    results: dict[str, list[dict]] = {"ours": [], "trl": []}
    for k in range(args.repeats):  # interleaved, so both see the same machine conditions
        results["ours"].append(run_ours(data, args, seed=k))
        results["trl"].append(run_trl(data, args, seed=k))
        print(f"repeat {k + 1}: ours {results['ours'][-1]} | TRL {results['trl'][-1]}", flush=True)
    median = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for name, runs in results.items()}
    ratios = {key: median["ours"][key] / median["trl"][key] for key in median["ours"]}
    ratios["seconds_per_step"] = median["trl"]["seconds_per_step"] / median["ours"]["seconds_per_step"]  # >1: faster
    report = {"settings": settings(args), "runs": results, "median": median, "ours_vs_trl": ratios}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    for key, value in ratios.items():
        print(
            f"{key}: ours {median['ours'][key]:.1f} vs TRL {median['trl'][key]:.1f} → {value:.2f}× (ours / TRL"
            f"{', speed' if key == 'seconds_per_step' else ''})"
        )


if __name__ == "__main__":
    sys.exit(main())
