"""Draw the package's layers as they are in the code: the layers declared in pyproject.toml (import-linter's
contract) as boxes, top to bottom, each with its modules, and between them the imports the code actually makes
(counted by grimp, the import graph import-linter checks). Prints a Mermaid diagram; docs/architecture.md carries it
(the tests check that it is the current one):

    python scripts/draw_layers.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def staged_package(root: Path = ROOT) -> Path:
    """The package as it installs (graphs/ and rl/ inside deepeyes_agent/), as a folder of links to the working tree:
    what grimp and import-linter read (an editable install maps graphs/ and rl/ by a finder they do not see)."""
    stage = Path(tempfile.mkdtemp(prefix="deepeyes-layers-"))
    package = stage / "deepeyes_agent"
    package.mkdir()
    for child in (root / "deepeyes_agent").iterdir():
        if child.name not in ("assets", "__pycache__"):
            os.symlink(child, package / child.name)
    os.symlink(root / "graphs", package / "graphs")
    os.symlink(root / "rl", package / "rl")
    return stage


def layers(root: Path = ROOT) -> list[list[str]]:
    """The layers contract of pyproject.toml, top to bottom, each a list of module names."""
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    contract = next(c for c in config if c["type"] == "layers")
    return [[m.strip() for m in layer.split("|")] for layer in contract["layers"]]


def mermaid(root: Path = ROOT) -> str:
    import grimp

    stage = staged_package(root)
    sys.path.insert(0, str(stage))
    try:
        graph = grimp.build_graph("deepeyes_agent", cache_dir=None)
    finally:
        sys.path.remove(str(stage))
    declared = layers(root)
    layer_of = {module: i for i, layer in enumerate(declared) for module in layer}

    def top(module: str) -> str | None:
        parts = module.split(".")
        return ".".join(parts[:2]) if len(parts) > 1 else None

    between: Counter[tuple[int, int]] = Counter()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = layer_of.get(top(module)), layer_of.get(top(imported))
            if a is not None and b is not None and a != b:
                between[(a, b)] += 1
    lines = ["flowchart TB"]
    for i, layer in enumerate(declared):
        names = " · ".join(m.removeprefix("deepeyes_agent.") for m in layer)
        lines.append(f'    L{i}["{names}"]')
    for (a, b), n in sorted(between.items()):
        lines.append(f"    L{a} -->|{n}| L{b}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(mermaid())
