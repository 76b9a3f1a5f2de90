"""Where reasonloop keeps converted checkpoints and other derived files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import platformdirs
from filelock import FileLock


def cache_root() -> Path:
    """`$REASONLOOP_CACHE` if set, else the user's XDG cache dir (e.g. ~/.cache/reasonloop)."""
    configured = os.environ.get("REASONLOOP_CACHE")
    root = Path(configured) if configured else Path(platformdirs.user_cache_dir("reasonloop"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def build_once(target: Path, build: Callable[[Path], None], *, prefix: str) -> Path:
    """`target`, made first by `build(staging_dir)` unless it already holds a checkpoint.

    `build` writes into a temporary directory (named `prefix`...) beside `target`, which is
    renamed into place under a file lock, so two processes that start at the same time
    neither collide nor see half a checkpoint. A directory counts as done once it has a
    `config.json`.
    """
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").is_file():  # another process finished while we waited
            return target
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=prefix) as tmp:
            staging = Path(tmp) / "checkpoint"
            build(staging)
            os.rename(staging, target)
    return target
