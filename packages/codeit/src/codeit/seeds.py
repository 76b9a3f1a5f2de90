"""Seed programs: hand-written solutions of ARC-AGI-1 training tasks in the DSL.

They prime CodeIt's replay buffer (the policy learns the language from them) and are the
starting points of mutation. Every program solves all train and test pairs of its task
(tests/codeit/test_codeit_seeds.py checks that). They are data, not code: `seeds.toml`
(task id = program text), shipped in the package and read once at import.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files

SEED_PROGRAMS: dict[str, str] = tomllib.loads(
    files("codeit").joinpath("seeds.toml").read_text(encoding="utf-8")
)
