"""The documentation site: it builds with ``mkdocs build --strict`` (no broken link, every API page readable), the
``python`` code blocks of every page run as written on the embedded model (``py`` blocks are shown, not run), and
every example asks about a sign that is in its picture."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from deepeyes_agent.data.zoomworld import COLOURS

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md"))


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def run_blocks(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {
        **os.environ,
        "DEEPEYES_AGENT_HOME": str(tmp_path / "home"),
        "DEEPEYES_AGENT_IMAGE_STORE": str(tmp_path / "img"),
    }
    return subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_the_site_builds_strict(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "index.html").read_text().count("create_visual_agent") > 1


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p.read_text())], ids=lambda p: p.name)
def test_the_python_blocks_of_a_page_run(page, tmp_path):
    """Every ``python`` block of the page, in order, in one fresh interpreter."""
    out = run_blocks("\n".join(python_blocks(page.read_text())), tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]


def sign_colours(image: Path) -> set[str]:
    """The zoom-world sign colours drawn in an image (flat colour over at least 400 pixels)."""
    import numpy as np

    pixels = np.asarray(Image.open(image).convert("RGB"), dtype=np.int16).reshape(-1, 3)
    return {name for name, rgb in COLOURS.items() if (np.abs(pixels - np.array(rgb)).max(axis=1) <= 12).sum() >= 400}


@pytest.mark.parametrize(
    "source",
    [ROOT / "README.md", *PAGES, *sorted((ROOT / "examples").glob("*.py"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_examples_ask_about_signs_in_their_picture(source):
    text = source.read_text()
    if source.suffix == ".md":  # the code a reader runs, not the prose describing the question forms
        text = "\n".join(re.findall(r"```\w*\n(.*?)```", text, flags=re.DOTALL))
    images = set(re.findall(r"images[/\"' )]+(?:/ )?\"?(\w+\.png)", text))
    named = set(re.findall(r"the (\w+) (?:sign|one)\b", text)) & set(COLOURS)
    if not images or not named:
        return
    drawn = set().union(*(sign_colours(ROOT / "examples" / "images" / name) for name in images))
    assert named <= drawn, f"{source.name} asks about {sorted(named - drawn)} signs; its pictures hold {sorted(drawn)}"
