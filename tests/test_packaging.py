"""A wheel built from the repository installs graphs/ and rl/ inside the deepeyes_agent namespace only."""

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts processes or servers

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-w", str(out), "-q"],
        check=True,
        capture_output=True,
        text=True,
    )
    (whl,) = out.glob("deepeyes_agent-*.whl")
    return whl


def test_wheel_layout(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "deepeyes_agent/graphs/visual_agent.py" in names
    assert "deepeyes_agent/rl/__init__.py" in names
    assert not any(n.startswith(("graphs/", "rl/", "tests/", "examples/", "recipes/")) for n in names)
    assert not any(n.endswith((".yaml", ".yml")) for n in names), "research recipes stay out of the wheel"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "deepeyes-agent = deepeyes_agent.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_fresh_venv_imports_the_namespaced_packages(wheel, tmp_path):
    """A new venv gets the wheel; its dependencies come from this environment through a .pth file."""
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel), "-q"],
        check=True,
        capture_output=True,
        text=True,
    )
    code = (
        "import importlib.util, deepeyes_agent.graphs, deepeyes_agent.rl, deepeyes_agent;"
        "assert importlib.util.find_spec('graphs') is None and importlib.util.find_spec('rl') is None;"
        "print(deepeyes_agent.__file__)"
    )
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip().startswith(str(site))
    assert not (site / "graphs").exists() and not (site / "rl").exists()
