"""What an evaluation runs: the benchmark, the mode, option order, sampling, repeats (light: no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from ..configs import JudgedRunConfig
from ..serving import VLLMEngineConfig
from ..tools.settings import ToolSettings

Mode = Literal["tool", "direct", "oracle", "ground"]


class EvalConfig(JudgedRunConfig, ToolSettings):
    """An evaluation: every row through the agent graph (or one of the control modes), judged and summarised."""

    data: Path = Field(
        description="benchmark rows as distributed: JSONL, a V* Bench folder, HR-Bench .tsv/.parquet, a DeepEyes-47k "
        "or lmms-lab V* parquet (deepeyes_agent.datasets)"
    )
    out: Path = Field(description="writes rows.jsonl and summary.json here")
    mode: Mode = Field(
        "tool",
        description="tool: the agent, zooming as it decides · direct: one turn on the full "
        "view · oracle: one turn on the ground-truth crop · ground: 'Locate …' prompts, boxes scored",
    )
    seed: int = Field(0, description="seeds the option shuffle and sampling")
    samples: int = Field(1, ge=1, description="repeat with seeds seed..seed+K-1; report mean ± std")
    option_order: Literal["shuffle", "cycle", "fixed", "none"] = Field(
        "shuffle",
        description="shuffle: a seeded permutation per row · cycle: the answer moves through every "
        "position · fixed: as stored (DeepEyes' V* eval, where the answer is always A) · none: no options shown "
        "(a free-form answer, judged against the right option's words)",
    )
    limit: int | None = Field(None, description="the first N rows only")
    concurrency: int = Field(8, ge=1, description="episodes in flight at once (the backend batches them)")
    max_turns: int = Field(5, ge=1, description="model turns per episode (DeepEyes: 5)")
    max_new_tokens: int = Field(128, ge=1, description="tokens per model turn")
    temperature: float = Field(0.0, ge=0.0, description="0 = greedy (DeepEyes' eval)")
    oracle_margin: float = Field(1.5, description="oracle crop: the ground-truth box grown by this factor")
    strict: bool = Field(False, description="stop at the first bad row instead of skipping it")
    resume: bool = Field(False, description="keep the finished rows of OUT/rows.jsonl and run only the rest")
    traces: int = Field(0, ge=0, description="write trace JSON + HTML page for the first K rows (tool/direct/oracle)")
    vllm: VLLMEngineConfig = Field(
        default_factory=VLLMEngineConfig, description="the in-process engine (--backend vllm)"
    )
