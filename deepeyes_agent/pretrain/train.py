"""The pretraining loop: resumable, step-budgeted, seeded; metrics as JSONL, checkpoints written atomically.

The data stream is a pure function of (seed, step), so a run killed at any point and resumed from its
last checkpoint sees exactly the batches it would have seen.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..backends.transformers_backend import TransformersBackend
from ..checkpoint import NAME as CHECKPOINT_NAME
from ..checkpoint import latest, save_atomically
from ..models import write_agent_defaults
from ..models.processor import load_processor
from ..models.tiny import build_tiny_model, ordinal_number_embeddings, with_kv_heads
from ..prompts import PromptBuilder
from .batch import collate
from .config import PretrainConfig
from .losses import Probes, auxiliary_losses
from .skills import probe_skills, view_size_fn
from .tasks import MULTI_TURN_TASKS, make_sample


def sample_options(cfg: PretrainConfig) -> dict:
    """How targets are written (shared by the training stream and the skill probes)."""
    return {
        "ground_margin": cfg.ground_margin,
        "box_grid": cfg.box_grid,
        "crop_margin": tuple(cfg.crop_margin),
        "crop_reply": cfg.crop_reply,
        "relation_reasoning": cfg.relation_reasoning,
        "free_form_share": cfg.free_form_share,
        "direct_relation_share": cfg.direct_relation_share,
    }


def curriculum(cfg: PretrainConfig, step: int) -> dict:
    """First large signs, and one sign per grounding scene (select by salience before selecting by colour)."""
    if step < cfg.curriculum_fraction * cfg.steps:
        return {"sign_size": (130, 200), "max_signs": 2, "single_sign_grounding": True, **sample_options(cfg)}
    return {"sign_size": (96, 160), "max_signs": 3, **sample_options(cfg)}


def step_tasks(cfg: PretrainConfig, step: int) -> dict[str, float]:
    """The tasks (and weights) a step draws from: all of them, or with ``multi_turn_every`` > 0 either the
    multi-turn ones (every k-th step) or the single-turn ones."""
    weights = {t: w for t, w in cfg.task_weights.items() if w > 0}
    if cfg.multi_turn_every <= 0:
        return weights
    multi = (step + 1) % cfg.multi_turn_every == 0
    picked = {t: w for t, w in weights.items() if (t in MULTI_TURN_TASKS) == multi}
    return picked or weights


def batch_samples(cfg: PretrainConfig, step: int, view_size):
    rng = random.Random(f"{cfg.seed}-{step}")
    tasks, weights = zip(*step_tasks(cfg, step).items())
    return [
        make_sample(rng, rng.choices(tasks, weights)[0], view_size, **curriculum(cfg, step))
        for _ in range(cfg.batch_size)
    ]


def lr_at(cfg: PretrainConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _optimizer(cfg: PretrainConfig, model, probe) -> torch.optim.Optimizer:
    vision = [p for n, p in model.named_parameters() if n.startswith("model.visual")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("model.visual")] + list(probe.parameters())
    return torch.optim.AdamW(
        [
            {"params": rest, "lr": cfg.lr},
            {"params": vision, "lr": cfg.lr * cfg.vision_lr_scale},
        ],
        weight_decay=cfg.weight_decay,
        betas=(0.9, 0.98),
    )


def save_checkpoint(out: Path, model, processor, optimizer, probe, step: int, cfg: PretrainConfig) -> Path:
    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        write_agent_defaults(folder, system_prompt=cfg.system_prompt)
        torch.save(
            {
                "step": step,
                "optimizer": optimizer.state_dict(),
                "probe": probe.state_dict(),
                "config": cfg.model_dump(mode="json"),
            },
            folder / "trainer_state.pt",
        )

    return save_atomically(out, write, str(step))


def load_or_init(cfg: PretrainConfig, device: torch.device):
    """The model and processor to train, the trainer state to resume (or None), its step, and probes carried
    over from the stage this one continues: from the run's own checkpoint, from ``init_from``, or from scratch."""
    from transformers import AutoModelForImageTextToText

    resume = latest(cfg.out)
    if resume:
        model = AutoModelForImageTextToText.from_pretrained(resume, dtype=torch.float32)
        processor = load_processor(resume, image_backend="pil")  # the recipe's processor (build_tiny_model)
        state = torch.load(resume / "trainer_state.pt", weights_only=True, map_location=device)
        return model, processor, state, state["step"], None
    torch.manual_seed(cfg.seed)
    if cfg.init_from:
        model = AutoModelForImageTextToText.from_pretrained(cfg.init_from, dtype=torch.float32)
        if cfg.kv_heads:
            model = with_kv_heads(model, cfg.kv_heads)
        processor = load_processor(cfg.init_from, image_backend="pil")
        previous = Path(cfg.init_from) / "trainer_state.pt"  # a run's checkpoint (an exported model has none)
        carried = (
            torch.load(previous, weights_only=True, map_location=device)["probe"]
            if cfg.carry_probes and previous.exists()
            else None
        )
        return model, processor, None, 0, carried
    model, processor = build_tiny_model(None, cfg.spec)
    with torch.no_grad():
        model.model.visual.merger.mlp[2].weight.mul_(cfg.merger_init_scale)
    ordinal_number_embeddings(model, processor.tokenizer)
    return model, processor, None, 0, None


def lm_loss_per_token(model, out, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Token cross-entropy (only where the sample has a target: most tokens are prompt) and the targets' weights."""
    w = batch.weights[:, 1:]
    keep = w > 0
    logits = model.lm_head(out.last_hidden_state[:, :-1][keep]).float()
    ce = torch.zeros_like(w)
    ce[keep] = F.cross_entropy(logits, batch.input_ids[:, 1:][keep], reduction="none")
    return ce, w


def run(cfg: PretrainConfig, *, log=print) -> Path:
    """Pretrain on ``cfg.device``: float32 weights (the master copy), the forward and backward under autocast in
    ``cfg.dtype`` when that is lower (see :mod:`deepeyes_agent.precision`)."""
    from ..precision import PrecisionPolicy

    torch.set_num_threads(cfg.threads)
    placement = cfg.placement(cfg.init_from)
    precision = PrecisionPolicy("mixed", placement.device, placement.dtype)
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "config.json").write_text(cfg.model_dump_json(indent=1))
    model, processor, state, start, carried_probes = load_or_init(cfg, placement.device)
    model.to(placement.device)
    layers = model.config.text_config.num_hidden_layers
    if cfg.attention_supervision_layer >= layers or cfg.aux_position_layer > layers:
        raise ValueError(f"the model has {layers} layers: attention_supervision_layer and aux_position_layer must fit")
    if cfg.attention_supervision_weight > 0:
        model.set_attn_implementation("eager")  # attention weights are needed
    probe = Probes(model.config.text_config.hidden_size).to(placement.device)
    if carried_probes:  # the auxiliary losses go on where the last stage left them
        probe.load_state_dict(carried_probes, strict=False)  # (a probe added since starts fresh)
    optimizer = _optimizer(cfg, model, probe)
    if state:
        probe.load_state_dict(state["probe"])
        optimizer.load_state_dict(state["optimizer"])
        log(f"resumed from step {start}")
    builder = PromptBuilder(processor, cfg.system_prompt)
    view_size = view_size_fn(processor.image_processor)
    merge = processor.image_processor.merge_size
    pad_id = processor.tokenizer.pad_token_id
    metrics_file = (cfg.out / "metrics.jsonl").open("a")
    trackers = cfg.trackers(cfg.out, cfg.model_dump(mode="json"))
    model.train()
    t_last, seen = time.time(), 0
    end = min(cfg.steps, cfg.stop_after or cfg.steps)
    for step in range(start, end):
        for group, base in zip(optimizer.param_groups, (cfg.lr, cfg.lr * cfg.vision_lr_scale)):
            group["lr"] = base * lr_at(cfg, step)
        samples = batch_samples(cfg, step, view_size)
        batch = collate(builder, samples, cfg.key_token_weight, pad_id, torch.float32).to(placement.device)
        supervise = cfg.attention_supervision_weight > 0 and step >= cfg.attention_supervision_from_step
        with precision.autocast():
            out = model.model(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                mm_token_type_ids=batch.mm_token_type_ids,
                output_hidden_states=True,
                output_attentions=supervise,
                **batch.vision,
            )
            ce, w = lm_loss_per_token(model, out, batch)
            lm_loss = (ce * w).sum() / w.sum()
            terms, aux_record = auxiliary_losses(cfg, step, model, out, batch, builder, probe, merge, supervise)
        loss = lm_loss
        for term in terms:
            loss = loss + term
        record = {"step": step + 1, "lm_loss": lm_loss.item(), **aux_record}
        optimizer.zero_grad(set_to_none=True)
        precision.backward(loss)
        precision.unscale(optimizer)
        record["grad_norm"] = float(
            torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(probe.parameters()), cfg.grad_clip)
        )
        precision.step(optimizer)
        for task in set(batch.tasks):
            rows = [i for i, t in enumerate(batch.tasks) if t == task]
            record[f"loss/{task}"] = ((ce[rows] * w[rows]).sum() / w[rows].sum()).item()
        seen += cfg.batch_size
        if (step + 1) % 10 == 0:
            record["samples_per_s"] = seen / (time.time() - t_last)
            t_last, seen = time.time(), 0
            log(
                f"step {step + 1}/{cfg.steps} lm {lm_loss.item():.3f} "
                + " ".join(
                    f"{k}={v:.3f}"
                    for k, v in record.items()
                    if k.startswith("loss/") or k.startswith("aux_") or k == "samples_per_s"
                )
            )
        if (step + 1) % cfg.eval_every == 0 or step + 1 == end:
            model.eval()
            skills = probe_skills(
                TransformersBackend(model, processor),
                n=cfg.eval_samples,
                system_prompt=cfg.system_prompt,
                **sample_options(cfg),
            )
            model.train()
            record.update({f"eval/{k}": v for k, v in skills.items()})
            log(f"eval @ {step + 1}: " + " ".join(f"{k}={v:.2f}" for k, v in skills.items()))
        metrics_file.write(json.dumps(record) + "\n")
        metrics_file.flush()
        trackers.log(record, step + 1)
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == end:
            save_checkpoint(cfg.out, model, processor, optimizer, probe, step + 1, cfg)
    metrics_file.close()
    trackers.close()
    return cfg.out / CHECKPOINT_NAME
