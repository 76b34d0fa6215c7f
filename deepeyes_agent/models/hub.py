"""Models named by their Hugging Face hub id (``Qwen/Qwen2.5-VL-7B-Instruct``, ``ChenShawn/DeepEyes-7B``), as every
user of transformers, vLLM, TRL and OpenRLHF names them.

A local folder of that name wins; otherwise ``huggingface_hub.snapshot_download`` fetches the model's files into its
cache (or finds them there): ``revision`` pins a branch, tag or commit; ``HF_TOKEN`` opens gated and private models;
``HF_HUB_OFFLINE=1`` keeps the hub off and uses the cache alone; ``HF_HUB_CACHE`` / ``HF_HOME`` move the cache. A model
that cannot be had — offline and not cached, no such repository or revision — is an
:class:`~deepeyes_agent.errors.InputError` (the CLI: one line, exit 2) naming the id and the command that fetches it.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# what loading a model needs: weights, configs, the tokenizer, processor and chat template (not other formats)
MODEL_FILES = ["*.json", "*.safetensors", "*.txt", "*.jinja", "*.model", "*.tiktoken"]


def is_hub_id(name: str) -> bool:
    """``org/name``, and not a path on this machine."""
    return bool(HUB_ID.match(name)) and not Path(name).expanduser().exists()


def fetch_command(repo_id: str, revision: str | None = None) -> str:
    return f"hf download {repo_id}" + (f" --revision {revision}" if revision else "")


def fetch(repo_id: str, revision: str | None = None, *, progress: bool = False) -> Path:
    """The local folder of ``repo_id`` at ``revision`` (downloaded into the hub cache unless it is there)."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    at = f" at revision {revision}" if revision else ""
    try:
        with _progress_bars(progress):
            return Path(snapshot_download(repo_id, revision=revision, allow_patterns=MODEL_FILES))
    except GatedRepoError as exc:
        raise InputError(f"--model {repo_id}: a gated model: accept its terms on the hub and set HF_TOKEN") from exc
    except RevisionNotFoundError as exc:
        raise InputError(f"--revision {revision}: {repo_id} has no such branch, tag or commit") from exc
    except RepositoryNotFoundError as exc:
        raise InputError(
            f"--model {repo_id}: no such model on the hub (a private one needs HF_TOKEN), and no such local folder"
        ) from exc
    except LocalEntryNotFoundError as exc:
        why = "HF_HUB_OFFLINE=1 keeps the hub off" if constants.HF_HUB_OFFLINE else "the hub cannot be reached"
        raise InputError(
            f"--model {repo_id}{at}: not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) and {why}; "
            f"fetch it where the hub is reachable: {fetch_command(repo_id, revision)}"
        ) from exc
    except HfHubHTTPError as exc:
        raise InputError(f"--model {repo_id}{at}: the hub refused the download ({exc})") from exc


@contextmanager
def _progress_bars(on: bool):
    """huggingface_hub's download bars on (the CLI) or off (the Python API stays quiet), restored after."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_off = are_progress_bars_disabled()
    if not on and not was_off:
        disable_progress_bars()
    try:
        yield
    finally:
        if not on and not was_off:
            enable_progress_bars()
