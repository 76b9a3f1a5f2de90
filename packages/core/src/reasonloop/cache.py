"""Where reasonloop keeps converted checkpoints and other derived files."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_root() -> Path:
    """`$REASONLOOP_CACHE` if set, else the user's XDG cache dir (e.g. ~/.cache/reasonloop)."""
    configured = os.environ.get("REASONLOOP_CACHE")
    root = Path(configured) if configured else Path(platformdirs.user_cache_dir("reasonloop"))
    root.mkdir(parents=True, exist_ok=True)
    return root
