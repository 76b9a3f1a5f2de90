"""`--version` of the four installed CLIs: the installed distribution's version, exit 0."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("script", "distribution"),
    [
        ("reasonloop", "reasonloop-core"),
        ("softcot", "reasonloop-softcot"),
        ("codeit", "reasonloop-codeit"),
        ("benchagents", "reasonloop-benchagents"),
    ],
)
def test_version_prints_the_installed_version(script: str, distribution: str) -> None:
    path = Path(sys.executable).parent / script
    result = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{script} {metadata.version(distribution)}\n"
    assert result.stderr == ""
