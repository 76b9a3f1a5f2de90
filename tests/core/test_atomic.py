"""Atomic writes: the old file or the new one, never half of one, and no stray temp files."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from reasonloop.atomic import atomic_path, write_atomic


def test_write_atomic_text_bytes_and_parents(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "report.json"
    assert write_atomic(target, "héllo") == target
    assert target.read_text(encoding="utf-8") == "héllo"
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_file_gets_the_umask_mode_not_the_temp_files_0600(
    tmp_path: Path, umask_022: None
) -> None:
    target = write_atomic(tmp_path / "report.json", "{}")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    os.umask(0o077)
    assert stat.S_IMODE(write_atomic(tmp_path / "private.json", "{}").stat().st_mode) == 0o600


def test_a_replaced_file_keeps_its_mode(tmp_path: Path, umask_022: None) -> None:
    target = tmp_path / "matrix.json"
    target.write_text("old")
    target.chmod(0o640)
    write_atomic(target, "new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.read_text() == "new"
