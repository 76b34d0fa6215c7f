"""Shared fixtures: one tiny random model for the session, a fresh image store per test."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub name must fail at once, not after DNS retries
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # as the CLI runs: its one-line errors stay one line

import pytest
import torch
from PIL import Image, ImageDraw

from deepeyes_agent.backends import TransformersBackend
from deepeyes_agent.images import ImageStore
from deepeyes_agent.models import build_tiny_model

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-model")
    build_tiny_model(path)
    return path


@pytest.fixture(scope="session")
def backend(tiny_dir) -> TransformersBackend:
    return TransformersBackend.from_pretrained(tiny_dir)


@pytest.fixture(scope="session")
def processor(backend):
    return backend.processor


@pytest.fixture
def store(tmp_path) -> ImageStore:
    return ImageStore(tmp_path / "images")


@pytest.fixture(scope="session")
def scene_path(tmp_path_factory):
    """A 2000×1500 scene with a fine checkerboard inside a small target at (900..1000, 700..800)."""
    img = Image.new("RGB", (2000, 1500), (200, 220, 240))
    draw = ImageDraw.Draw(img)
    draw.rectangle([900, 700, 999, 799], fill=(220, 30, 30))
    for y in range(710, 790, 2):
        for x in range(910, 990, 2):
            if (x + y) % 4 == 0:
                draw.point((x, y), fill=(255, 255, 255))
    path = tmp_path_factory.mktemp("scene") / "scene.png"
    img.save(path)
    return path


def tool_call(box, name: str = "image_zoom_in_tool", think: str = "zoom") -> str:
    """A well-formed DeepEyes tool-call turn."""
    import json

    args = json.dumps({"name": name, "arguments": {"bbox_2d": box, "label": "target"}})
    return f"<think>{think}</think>\n<tool_call>\n{args}\n</tool_call><|im_end|>"


def answer(text: str, think: str = "done") -> str:
    return f"<think>{think}</think>\n<answer>{text}</answer><|im_end|>"


def replay(processor, *turns: str):
    """A scripted policy on ``processor``'s tokenizer: every episode plays ``turns`` (by its own turn count, so
    concurrent episodes each play the whole script)."""
    from deepeyes_agent.backends import ScriptedBackend

    return ScriptedBackend.replaying(turns, processor=processor)


def kill_at_first_checkpoint(proc, run_dir, timeout: float = 600) -> int:
    """SIGKILL ``proc`` as soon as ``run_dir`` holds a complete checkpoint; returns that checkpoint's step."""
    import signal
    import time

    marker = run_dir / "checkpoint" / "COMPLETE"
    deadline = time.time() + timeout
    while not marker.exists() and time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run exited with code {proc.returncode} before its first checkpoint")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return int(marker.read_text())
