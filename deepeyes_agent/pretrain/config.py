"""Configuration of a pretraining run (pydantic; also loadable from YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from ..configs import ModelRunConfig
from ..models.spec import TinyModelSpec
from ..protocol import COMPACT_SYSTEM_PROMPT
from ..tracking import TrackingSettings
from .tasks import ALL_TASKS


def embedded_spec() -> TinyModelSpec:
    """The embedded default model: every image (full view or crop) is fed at ~280×280 (100 tokens), so
    a 1000–1600-px scene is seen 3.5–5.5× down-scaled while a crop is seen at (or above) full resolution."""
    return TinyModelSpec(
        hidden_size=160,
        num_layers=5,
        num_heads=5,
        num_kv_heads=1,
        intermediate_size=448,
        vision_depth=4,
        vision_hidden=128,
        vision_heads=4,
        vision_intermediate=256,
        min_pixels=280 * 280,
        max_pixels=280 * 280,
        max_position_embeddings=8192,
        # head_dim 32, mrope (4, 6, 6): with base 1e6 the w-section turns < 0.004 rad across 20 columns and
        # x is not learnable; base 100 turns it 0.3–1.1 rad (h-section 1.5–6 rad) — rows AND columns visible.
        # Tried and dropped: sections (2, 2, 12) with base 5e4 and 5 KV heads, meant to leave position-free
        # pairs for matching a colour across the prompt — after 1,300 steps x was tracked worse (slope 0.21
        # vs 0.89) and the named sign was still boxed at chance among 2–3. What made the model pick the named
        # sign was the colour binding loss (colour_binding_weight; see recipes/embedded_model/RECIPE.md).
        rope_theta=100.0,
    )


class PretrainConfig(ModelRunConfig, TrackingSettings):
    """Pretraining of the embedded model on zoom-world skills (the recipe: recipes/embedded_model/)."""

    out: Path = Field(description="run folder (resumes from its checkpoint when present)")
    steps: int = Field(3000, description="optimizer steps (budget by steps: the two cores are shared)")
    stop_after: int | None = Field(None, description="end the run at this step; the LR schedule still spans `steps`")
    batch_size: int = Field(16, ge=1, description="samples per step")
    lr: float = Field(1.5e-3, description="peak learning rate (cosine after warmup)")
    vision_lr_scale: float = Field(
        0.5, description="vision tower + merger lr multiplier (keeps image tokens at text scale)"
    )
    merger_init_scale: float = Field(0.1, description="scale of the merger's last Linear at init")
    weight_decay: float = Field(0.01, description="AdamW weight decay")
    warmup_steps: int = Field(100, description="linear warmup steps")
    grad_clip: float = Field(1.0, description="gradient-norm clip")
    key_token_weight: float = Field(4.0, description="loss weight of box numbers and answers vs boilerplate")
    aux_position_weight: float = Field(
        1.0, description="probe loss: image tokens' hidden states predict their grid position"
    )
    aux_position_layer: int = Field(2, description="decoder layer whose hidden states the position probe reads")
    attention_supervision_weight: float = Field(
        0.5,
        description="one attention head, at the tokens that emit a box's numbers, is taught to look at the target's image tokens",
    )
    attention_supervision_layer: int = Field(3, description="decoder layer of the supervised attention head")
    attention_supervision_from_step: int = Field(0, description="step at which attention supervision starts")
    colour_binding_weight: float = Field(
        0.0,
        description="shared colour prototypes at the supervised layer's input: image tokens → their sign's "
        "colour, box-emitting tokens → the named colour (so the pointer head can match the named sign)",
    )
    aux_box_weight: float = Field(1.0, description="probe: the token emitting a box number predicts that coordinate")
    aux_box_from_step: int = Field(0, description="step at which the box probe starts")
    aux_token_weight: float = Field(
        0.5, description="probes: image features predict the sign colour and texture under each token"
    )
    task_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "ground": 0.3,
            "zoom_instruction": 0.15,
            "read_crop": 0.35,
            "direct": 0.2,
            "explore": 0.0,
            "zoom_followup": 0.0,
            "chat_followup": 0.0,
            "zoom_after_answer": 0.0,
        },
        description="how often each pretraining task is drawn (the cold start's chain task, zoom_to_answer, "
        "only after the base model: recipes/embedded_model/cold_start.yaml)",
    )
    multi_turn_every: int = Field(
        0,
        description="if > 0, every this many steps is a batch of multi-turn tasks only (the others single-turn "
        "only): a two-image row in a batch pads every row to its length, doubling the step's cost",
    )
    ground_margin: float = Field(1.5, description="a grounding box is the sign grown by this factor ...")
    box_grid: int = Field(1, description="... and snapped outward to multiples of this many view pixels (14 = a patch)")
    crop_margin: tuple[float, float] = Field((1.1, 2.0), description="reading crops: side = this range × the sign's")
    crop_reply: Literal["sentence", "think"] = Field(
        "sentence",
        description="the tool loop's reply to a crop: the answer 'The pattern on X is P.', or that "
        "sentence in the thinking and the answer P alone (the words a reading answer writes)",
    )
    relation_reasoning: bool = Field(
        False,
        description="a relative-position question answered from the full view says where each sign is first: "
        "'The red sign is at x 84. The blue sign is at x 196. 84 is less than 196.' (grounding, said in the thinking)",
    )
    free_form_share: float = Field(
        0.0, ge=0.0, le=1.0, description="share of questions asked without options (answered in the option's words)"
    )
    direct_relation_share: float = Field(
        0.7, ge=0.0, le=1.0, description="share of direct (full-view) answers that are relative-position questions"
    )
    init_from: Path | None = Field(
        None, description="start from this model folder's weights (a second stage) instead of a random init"
    )
    carry_probes: bool = Field(
        True, description="with init_from a run's checkpoint: start the auxiliary probes from its own"
    )
    kv_heads: int | None = Field(
        None,
        description="with init_from: first give the model this many key/value heads, each a copy of the shared "
        "one it replaces (same outputs), so heads that shared keys can learn their own",
    )
    curriculum_fraction: float = Field(
        0.3, description="share of steps with large signs, ≤ 2 per scene, one per grounding scene"
    )
    eval_every: int = Field(250, description="steps between skill probes (grounding, reading, direct)")
    eval_samples: int = Field(48, description="samples per skill probe")
    checkpoint_every: int = Field(100, description="steps between checkpoints")
    threads: int = Field(2, ge=1, description="torch threads")
    seed: int = Field(0, description="seeds the sample stream (a step's samples depend on seed and step only)")
    spec: TinyModelSpec = Field(default_factory=embedded_spec, description="the model's architecture (random init)")
    system_prompt: str = Field(COMPACT_SYSTEM_PROMPT, description="written to the model folder's deepeyes_agent.json")

    @field_validator("task_weights")
    @classmethod
    def _known_tasks(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(ALL_TASKS))
        if unknown:
            raise ValueError(f"unknown pretraining task(s) {unknown}; the tasks are {list(ALL_TASKS)}")
        return weights
