"""Models by hub id, as transformers, vLLM and TRL users name them — tested without a network: a Hugging Face cache
laid out as huggingface_hub writes it (``models--org--name/snapshots/<commit>``, ``refs/main``) holds the embedded
model; with ``HF_HUB_OFFLINE=1`` the id resolves from it, a pinned revision too, and an id or revision that is not
cached fails in one line naming the command that fetches it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from deepeyes_agent import Trajectory, create_visual_agent
from deepeyes_agent.errors import InputError
from deepeyes_agent.models import SHIPPED_MODEL_DIR, resolve_model_dir

COMMIT = "0123456789abcdef0123456789abcdef01234567"
README = {
    "image": "examples/images/signs.png",
    "question": "What pattern is on the orange sign?",
    "options": ["vertical stripes", "diagonal stripes", "checkerboard", "horizontal stripes"],
}


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A hub cache holding ``deepeyes/zoomworld-tiny`` (the embedded model) at one commit, ``main`` pointing at it."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    repo = cache / "models--deepeyes--zoomworld-tiny"
    shutil.copytree(SHIPPED_MODEL_DIR, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def test_a_hub_id_resolves_from_the_cache_and_answers(hub_cache):
    folder = resolve_model_dir("deepeyes/zoomworld-tiny")
    assert folder == hub_cache / "models--deepeyes--zoomworld-tiny" / "snapshots" / COMMIT
    assert resolve_model_dir("deepeyes/zoomworld-tiny", revision=COMMIT) == folder  # a pinned commit
    out = create_visual_agent("deepeyes/zoomworld-tiny").invoke(README)
    assert out["answer"] == "checkerboard" and Trajectory.from_state(out).crops == 1


@pytest.mark.parametrize(
    "model, revision, says",
    [
        ("deepeyes/not-cached", None, "--model deepeyes/not-cached: not in the local Hugging Face cache"),
        ("deepeyes/zoomworld-tiny", "v2", "--model deepeyes/zoomworld-tiny at revision v2: not in the local"),
    ],
)
def test_what_is_not_cached_offline_names_the_command_that_fetches_it(hub_cache, model, revision, says):
    with pytest.raises(InputError, match=says) as err:
        resolve_model_dir(model, revision)
    assert "HF_HUB_OFFLINE=1 keeps the hub off" in str(err.value)
    assert str(err.value).endswith(f"hf download {model}" + (f" --revision {revision}" if revision else ""))


def test_a_local_folder_wins_over_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(SHIPPED_MODEL_DIR, tmp_path / "deepeyes" / "zoomworld-tiny")
    assert resolve_model_dir("deepeyes/zoomworld-tiny").resolve() == tmp_path / "deepeyes" / "zoomworld-tiny"


def test_the_command_line_asks_a_model_by_hub_id_and_fails_in_one_line(hub_cache, tmp_path):
    env = {**os.environ, "HF_HUB_CACHE": str(hub_cache), "HF_HUB_OFFLINE": "1"}
    ask = [sys.executable, "-m", "deepeyes_agent.cli", "ask", "examples/images/signs.png", README["question"]]
    options = [arg for option in README["options"] for arg in ("-o", option)]
    done = subprocess.run([*ask, *options, "--model", "deepeyes/zoomworld-tiny", "--revision", COMMIT], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "answer: 'checkerboard'" in done.stdout and f"snapshots/{COMMIT}" in done.stdout
    done = subprocess.run([*ask, "--model", "deepeyes/zoomworld-tiny", "--revision", "no-such-tag"], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: --model deepeyes/zoomworld-tiny at revision no-such-tag: not in the local")
