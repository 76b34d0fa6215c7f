"""OpenRLHF's rollout side of one training step, run on this machine: a local Ray, OpenRLHF's own
``create_vllm_engines`` with this library's agent file, its ``blending_datasets`` and ``PromptDataset`` over the
exported rows and its ``SamplesGenerator`` — the Experiences one step would train on, with no DeepSpeed, no weight
sync and no GPU needed.

Why: a user checks their data, tools and settings on OpenRLHF's real engine actor (on a CPU box or a laptop)
before booking GPUs, and the tests run the same path. ``deepeyes-agent openrlhf rollout`` is this module plus a
printed table. Without a GPU, Ray is told of one logical GPU: OpenRLHF places each engine in a
``{"GPU": 1, "CPU": 1}`` bundle, and vLLM's CPU build ignores the device it is given.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

from deepeyes_agent.backends.base import BackendUnavailable
from deepeyes_agent.errors import InputError

from ..config import TrainConfig
from . import AGENT_FILE, ENV_VAR
from .command import images_per_prompt
from .launch import prepare_inputs

EngineDType = Literal["bfloat16", "float32"]
ENGINE_START_TIMEOUT_S = 600


@dataclass
class Episode:
    """One rollout, as the printed table and ``summary.json`` show it."""

    row: int | None  # line of OUT/openrlhf/prompts.jsonl (None: a parquet's row)
    sample: int  # which of the prompt's rollouts
    question: str
    truth: str
    answer: str | None
    turns: int
    crops: int
    tool_calls: dict[str, int]
    reward: float
    accuracy: float
    format: float
    tool: float
    tokens: int  # the training sequence: prompt, turns, observations with their image pads
    action_tokens: int  # the tokens the loss sees
    images: int
    truncated: bool
    trajectory: Path | None = None


@dataclass
class RolloutResult:
    episodes: list[Episode]
    experiences: list = field(repr=False)  # OpenRLHF's Experiences, in the order they arrived
    responses: list[dict] = field(repr=False)  # the executor's dicts, in the same order
    timings: dict[str, float]
    folder: Path


def tool_import_roots(tools: list[str]) -> list[str]:
    """The folders this process imported the user's tools from (``tests/`` for ``tool_fixtures:enhance``): they go
    on the workers' ``PYTHONPATH``, so a tool that imports here imports on the workers of this machine's Ray. Call it
    after the tools resolved. Installed packages need nothing; on a cluster, a tool's package must be installed on
    every node (or shipped with the job)."""
    roots = []
    for spec in tools:
        name = spec.partition(":")[0] if ":" in spec else None
        path = getattr(sys.modules.get(name), "__file__", None) if name else None
        if not path:
            continue
        root = Path(path).resolve().parent
        for _ in range(name.count(".") + (Path(path).name == "__init__.py")):
            root = root.parent
        if "site-packages" not in root.parts and str(root) not in roots:
            roots.append(str(root))
    return roots


@contextmanager
def engine_dtype(dtype: EngineDType):
    """OpenRLHF 0.11's ``create_vllm_engines`` hard-codes ``dtype="bfloat16"``; float32 (a float32 trainer's
    logprobs, to 1e-3) is passed by wrapping its actor class for the one call — everything else is OpenRLHF's."""
    import openrlhf.trainer.ray.vllm_engine as vllm_engine

    if dtype == "bfloat16":
        yield
        return
    real = vllm_engine.RolloutRayActor

    class WithDType:
        @staticmethod
        def options(**options):
            handle = real.options(**options)
            return SimpleNamespace(remote=lambda **kwargs: handle.remote(**{**kwargs, "dtype": dtype}))

    vllm_engine.RolloutRayActor = WithDType
    try:
        yield
    finally:
        vllm_engine.RolloutRayActor = real


def engine_failure(exc: BaseException) -> Exception:
    """An engine that died while starting, as one line: the worker's own error (a tool that does not import there
    is an :class:`InputError`), not Ray's traceback."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in reversed(lines):
        if "InputError: " in line:
            return InputError(line.split("InputError: ", 1)[1])
    errors = [line for line in lines if line.split(":", 1)[0].rsplit(".", 1)[-1].endswith(("Error", "Exception"))]
    last = errors[-1] if errors else (lines[-1] if lines else type(exc).__name__)
    return BackendUnavailable(f"OpenRLHF's vLLM engine did not start: {last} (Ray's logs: /tmp/ray/session_latest)")


def _openrlhf_args(cfg: TrainConfig, prompts: int, label_key: str) -> SimpleNamespace:
    """What ``SamplesGenerator``, ``PromptDataset`` and ``blending_datasets`` read of ``train_ppo_ray``'s parsed
    flags, set as :func:`~.command.train_args` sets them. ``is_correction_level`` is on so the Experiences carry the
    engine's logprobs (the off-policy correction's input; the executor records them either way)."""
    return SimpleNamespace(
        vllm=SimpleNamespace(enable_sleep=False),
        rollout=SimpleNamespace(
            batch_size=prompts, n_samples_per_prompt=cfg.rollouts_per_prompt, vllm_generate_batch_size=None
        ),
        algo=SimpleNamespace(
            dynamic_filtering_enable=False,
            dynamic_filtering_range=(0.0, 1.0),
            advantage=SimpleNamespace(is_correction_level="token"),
        ),
        data=SimpleNamespace(input_key="prompt", label_key=label_key, image_key="images", apply_chat_template=False),
        use_ms=False,
    )


def _worker_env(settings: Path, images: Path, tools: list[str]) -> dict[str, str]:
    env = {
        ENV_VAR: str(settings),  # OpenRLHF builds the executor with no arguments
        "DEEPEYES_AGENT_IMAGE_STORE": str(images),  # the episodes' crops, for the viewer
        "TOKENIZERS_PARALLELISM": "false",
        "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),  # GiB; read by the CPU build only
    }
    paths = [*tool_import_roots(tools), *filter(None, [os.environ.get("PYTHONPATH")])]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _row_index(dataset: Path) -> dict[tuple, int]:
    """(prompt, first image) → line of the exported JSONL, to name each episode's row (a parquet's rows stay
    unnamed)."""
    if dataset.suffix != ".jsonl":
        return {}
    index = {}
    for line, text in enumerate(dataset.read_text().splitlines(), 1):
        row = json.loads(text)
        index.setdefault(_row_key(row["prompt"], row.get("images")), line)
    return index


def _row_key(prompt, images) -> tuple:
    first = images[0] if isinstance(images, list) and images else images
    return str(prompt), first if isinstance(first, str) else None


def _episode(response: dict, row: int | None, sample: int) -> Episode:
    logs = response["extra_logs"]
    label = response["label"]
    try:
        truth = str(json.loads(label).get("answer", label)) if isinstance(label, str) else str(label["ground_truth"])
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError):
        truth = str(label)
    mm = response.get("mm_train_inputs")
    return Episode(
        row=row,
        sample=sample,
        question=str(response["prompt"]),
        truth=truth,
        answer=(response.get("trajectory") or {}).get("answer"),
        turns=int(logs["turns"]),
        crops=int(logs["crops"]),
        tool_calls={k.split("/", 1)[1]: int(v) for k, v in logs.items() if k.startswith("tool_calls/")},
        reward=float(response["reward"]),
        accuracy=float(logs["reward/accuracy"]),
        format=float(logs["reward/format"]),
        tool=float(logs["reward/tool"]),
        tokens=len(response["observation_tokens"]),
        action_tokens=sum(end - start for start, end in response["action_ranges"]),
        images=len(mm["image_grid_thw"]) if mm else 0,
        truncated=bool(response["truncated"]),
    )


def run_rollout(cfg: TrainConfig, *, dtype: EngineDType = "bfloat16") -> RolloutResult:
    """One step's rollouts (``prompts_per_step`` prompts × ``rollouts_per_prompt``) on OpenRLHF's engine. Writes
    ``OUT/openrlhf/`` (the prompts and agent settings ``openrlhf train`` would use), ``OUT/trajectories/*.json``
    (``deepeyes-agent view … --images OUT/images``) and ``OUT/summary.json``."""
    started = time.perf_counter()
    run = prepare_inputs(cfg, trajectories=True)  # the tools resolve here first: a bad one stops before any engine
    out = cfg.out.resolve()
    images, traces = out / "images", out / "trajectories"
    try:
        import ray
        import torch
        from openrlhf.datasets import PromptDataset
        from openrlhf.datasets.utils import blending_datasets
        from openrlhf.trainer.ppo_utils.samples_generator import SamplesGenerator
        from openrlhf.trainer.ray.vllm_engine import create_vllm_engines
        from openrlhf.utils.utils import get_tokenizer
    except ImportError as exc:
        raise BackendUnavailable(
            f"openrlhf rollout needs OpenRLHF, Ray, vLLM and datasets ({exc}): bash scripts/install.sh on a CPU machine, "
            "pip install -e '.[openrlhf]' on a GPU one"
        ) from exc
    from deepeyes_agent.serving import context_length, is_cpu_build

    max_len = min(cfg.max_length, context_length(run.folder))
    timings: dict[str, float] = {}
    t = time.perf_counter()
    with warnings.catch_warnings():  # Ray's notice about a default it will change (visible devices at 0 GPUs)
        warnings.filterwarnings("ignore", "Tip: In future versions of Ray", FutureWarning)
        ray.init(
            address="local",  # a Ray of its own, never a cluster named by RAY_ADDRESS
            num_cpus=max(2, os.cpu_count() or 2),
            # without a GPU, one logical GPU: the engine's placement bundle asks for one
            num_gpus=None if torch.cuda.is_available() else 1,
            include_dashboard=False,
            log_to_driver=False,  # vLLM's start-up log stays in Ray's session logs
            runtime_env={"env_vars": _worker_env(run.settings, images, list(run.agent.tools))},
        )
    timings["ray_init_s"] = time.perf_counter() - t
    try:
        t = time.perf_counter()
        with engine_dtype(dtype):
            engines = create_vllm_engines(
                1,  # engines
                cfg.vllm.tensor_parallel_size,
                str(run.folder),
                cfg.seed,
                False,  # full determinism
                False,  # prefix caching
                is_cpu_build() if cfg.vllm.enforce_eager is None else cfg.vllm.enforce_eager,
                max_len,
                gpu_memory_utilization=cfg.vllm.gpu_memory_utilization,
                logprobs_mode="processed_logprobs",  # what train_ppo_ray passes with is_correction_level on
                agent_func_path=str(AGENT_FILE),
                max_images_per_prompt=images_per_prompt(cfg),
            )
        try:  # the actor's async __init__ (the agent file, then the vLLM engine) has finished once this answers
            ray.get([e.get_num_unfinished_requests.remote() for e in engines], timeout=ENGINE_START_TIMEOUT_S)
        except ray.exceptions.RayActorError as exc:
            raise engine_failure(exc) from None
        except ray.exceptions.GetTimeoutError:
            raise BackendUnavailable(
                f"OpenRLHF's vLLM engine did not start in {ENGINE_START_TIMEOUT_S} s (Ray's logs: /tmp/ray/session_latest)"
            ) from None
        timings["engine_up_s"] = time.perf_counter() - t

        strategy = SimpleNamespace(
            args=_openrlhf_args(cfg, cfg.prompts_per_step, run.label_key), is_rank_0=lambda: True, print=lambda *_: None
        )
        tokenizer = get_tokenizer(str(run.folder), None, "left", strategy)  # what PPOTrainer gives the generator
        data = blending_datasets(str(run.dataset), None, strategy, cfg.seed, dataset_split="train")
        data = data.select(range(min(cfg.prompts_per_step, len(data))))  # one step's prompts, in file order
        prompts = PromptDataset(data, tokenizer, strategy)
        loader = torch.utils.data.DataLoader(prompts, batch_size=1, shuffle=False, collate_fn=prompts.collate_fn)

        responses: list[dict] = []

        class Recording(SamplesGenerator):
            """OpenRLHF's generator; keeps each executor dict next to the Experience it becomes."""

            def _process_response_into_experience(self, response, **kwargs):
                responses.append(response)
                return super()._process_response_into_experience(response, **kwargs)

        t = time.perf_counter()
        experiences, _, _, _ = Recording(strategy, loader, None, tokenizer, engines).generate_samples(
            do_sample=True,
            max_len=max_len,
            max_new_tokens=cfg.max_new_tokens,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
        )  # the generate kwargs train_ppo_ray gives its PPOTrainer
        timings["rollout_s"] = time.perf_counter() - t
    finally:
        ray.shutdown()
    timings["total_s"] = time.perf_counter() - started
    return _write(run.dataset, out, traces, experiences, responses, timings, dtype=dtype, model=run.folder)


def _write(dataset, out, traces, experiences, responses, timings, **about) -> RolloutResult:
    traces.mkdir(parents=True, exist_ok=True)
    rows, seen, episodes = _row_index(dataset), {}, []
    for response in responses:
        row = rows.get(_row_key(response["prompt"], response.get("images")))
        sample = seen[row] = seen.get(row, -1) + 1
        episode = _episode(response, row, sample)
        if response.get("trajectory") is not None:
            episode.trajectory = traces / f"{row or 0:04d}-{sample}.json"
            parts = {k: getattr(episode, k) for k in ("reward", "accuracy", "format", "tool", "truth")}
            episode.trajectory.write_text(json.dumps({"trajectory": response["trajectory"], "reward": parts}))
        episodes.append(episode)
    timings = {k: round(v, 1) for k, v in timings.items()}
    n = max(1, len(episodes))
    summary = {
        **{k: str(v) for k, v in about.items()},
        "timings": timings,
        "episodes": len(episodes),
        "mean_reward": sum(e.reward for e in episodes) / n,
        "accuracy": sum(e.accuracy for e in episodes) / n,
        "episodes_with_crops": sum(e.crops > 0 for e in episodes) / n,
        "tokens": sum(e.tokens for e in episodes),
        "action_tokens": sum(e.action_tokens for e in episodes),
        "per_episode": [{**asdict(e), "trajectory": str(e.trajectory) if e.trajectory else None} for e in episodes],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return RolloutResult(episodes, experiences, responses, timings, out)
