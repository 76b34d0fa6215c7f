"""`deepeyes-agent view`: a self-contained HTML page of a trajectory, checked in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from conftest import answer, tool_call
from PIL import Image
from typer.testing import CliRunner

from deepeyes_agent.backends import ScriptedBackend
from deepeyes_agent.cli import app
from deepeyes_agent.graphs import create_visual_agent
from deepeyes_agent.images import ImageStore
from deepeyes_agent.picture import BOX_COLOURS


@pytest.fixture
def trace(processor, tmp_path):
    """A 2-crop trajectory on a plain grey image (no colour the boxes use), saved as ask --save-json does."""
    image = tmp_path / "grey.png"
    Image.new("RGB", (1200, 900), (128, 128, 128)).save(image)
    store = ImageStore(tmp_path / "store")
    script = [tool_call([20, 20, 120, 100]), tool_call([150, 120, 250, 200]), answer("grey")]
    out = create_visual_agent(ScriptedBackend(processor, script), image_store=store).invoke(
        {"image": str(image), "question": "What colour is it?"}
    )
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(out["trajectory"]))
    return path, tmp_path / "store"


def test_view_refuses_to_overwrite_unless_forced(trace):
    path, store = trace
    first = CliRunner().invoke(app, ["view", str(path), "--images", str(store)])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(app, ["view", str(path), "--images", str(store)])
    assert again.exit_code != 0 and "--force" in str(again.exception)
    forced = CliRunner().invoke(app, ["view", str(path), "--images", str(store), "--force"])
    assert forced.exit_code == 0, forced.output


def test_view_writes_a_self_contained_page_and_png(trace):
    path, store = trace
    result = CliRunner().invoke(app, ["view", str(path), "--images", str(store)])
    assert result.exit_code == 0, result.output
    page = path.with_suffix(".html").read_text()
    assert page.count("<rect") == 2 and page.count("data:image/png;base64,") == 3  # original + 2 crops
    assert "What colour is it?" in page and "<b>grey</b>" in page
    assert 'src="http' not in page and 'src="/' not in page  # nothing outside the file
    assert Image.open(path.with_suffix(".png")).width == 900


def test_page_renders_boxes_in_headless_chromium(trace, tmp_path):
    if shutil.which("chromium") is None:  # never a quiet skip: the test command installs it
        pytest.fail(
            "Debian's chromium is not installed: bash scripts/install.sh installs it (apt-get install chromium)"
        )
    path, store = trace
    CliRunner().invoke(app, ["view", str(path), "--images", str(store)])
    shot = tmp_path / "screenshot.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1100,900",
            f"--screenshot={shot}",
            path.with_suffix(".html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)

    def count(colour, tol):
        return int((np.abs(pixels - np.array(colour)) <= tol).all(axis=1).sum())

    for colour in BOX_COLOURS[:2]:  # both numbered boxes are drawn over the grey image
        assert count(colour, 40) > 200, f"no box drawn in {colour}"
    assert count((128, 128, 128), 3) > 100_000  # the image itself is on the page
