"""Atomic writes: the old file or the new one, never half of one, and no stray temp files."""

from __future__ import annotations

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
