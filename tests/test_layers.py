"""The package's layers, checked: import-linter's contracts in pyproject.toml (a module imports only what lies below
it; eval, datasets, graphs and tools never reach into rl, pretrain or the CLI) hold for the package as it installs
(graphs/ and rl/ inside deepeyes_agent/), an upward import breaks them, every internal import names a module that
exists (the import graph silently drops one that does not), and docs/architecture.md draws the current layers."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import draw_layers  # noqa: E402


def lint_imports(stage: Path) -> subprocess.CompletedProcess:
    """import-linter's ``lint-imports`` on the staged package (from the stage: the working tree's own
    deepeyes_agent/ must not shadow it)."""
    command = "from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run(
        [sys.executable, "-c", command, str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=stage, env={"PYTHONPATH": str(stage), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
    )  # fmt: skip


def test_the_layers_hold():
    done = lint_imports(draw_layers.staged_package())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout


def test_an_upward_import_breaks_them():
    stage = draw_layers.staged_package()
    module = stage / "deepeyes_agent" / "trajectory.py"  # the bottom of the package, importing the top
    text = module.read_text()
    module.unlink()
    module.write_text(text + "\n\ndef _upward():\n    from deepeyes_agent.rl import grpo  # noqa: F401\n")
    done = lint_imports(stage)
    assert done.returncode != 0 and "deepeyes_agent.trajectory -> deepeyes_agent.rl.grpo" in done.stdout


def test_every_internal_import_names_a_module_that_exists():
    stage = draw_layers.staged_package()
    package = stage / "deepeyes_agent"
    files = [Path(d) / f for d, _, names in os.walk(package, followlinks=True) for f in names if f.endswith(".py")]
    modules = set()
    for path in files:
        parts = path.relative_to(stage).with_suffix("").parts
        modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    missing = []
    for path in files:
        parts = path.relative_to(stage).with_suffix("").parts
        here = parts[:-1] if parts[-1] == "__init__" else parts[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = ".".join(here[: len(here) - node.level + 1]) if node.level else ""
                name = ".".join(p for p in (base, node.module or "") if p)
            elif isinstance(node, ast.Import):
                name = next((a.name for a in node.names if a.name.startswith("deepeyes_agent")), "")
            else:
                continue
            if name.startswith("deepeyes_agent") and name not in modules:
                missing.append(f"{path.relative_to(stage)}: {name}")
    shutil.rmtree(stage)
    assert not missing, missing


def test_the_architecture_page_draws_the_current_layers():
    # in a process of its own: this one has imported deepeyes_agent from the working tree, without graphs/ and rl/
    drawn = subprocess.run([sys.executable, str(ROOT / "scripts" / "draw_layers.py")], capture_output=True, text=True,
                           check=True, cwd=ROOT / "scripts").stdout.strip()  # fmt: skip
    assert drawn.startswith("flowchart TB") and drawn in (ROOT / "docs" / "architecture.md").read_text()
