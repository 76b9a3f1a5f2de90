"""What a resumed run recovers from a crash, in core: `recover_jsonl` (a log's torn last line,
records past the checkpoint) and `resume_checkpoint` (unfinished checkpoint directories and
temporary files), each said in one logged line; `read_jsonl` names every other bad line."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from reasonloop.atomic import atomic_path
from reasonloop.checkpoint import resume_checkpoint
from reasonloop.jsonl import JsonlError, read_jsonl, recover_jsonl


def records(*steps: int) -> str:
    return "".join(json.dumps({"step": s, "loss": 0.5}) + "\n" for s in steps)


def notes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "reasonloop.recovery"]


def test_a_torn_last_line_and_later_steps_are_dropped_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text(records(1, 2, 3) + '{"step": 4, "lo')
    with pytest.raises(JsonlError, match=r"log\.jsonl:4: invalid JSON"):
        read_jsonl(log)  # a plain reader does not guess
    with caplog.at_level(logging.WARNING):
        kept = recover_jsonl(log, lambda r: r["step"] <= 2)
    assert [r["step"] for r in kept] == [1, 2]
    assert log.read_text() == records(1, 2)
    assert notes(caplog) == [
        f"{log}: resuming without the torn line 4 (a crash mid-write) and 1 record(s) past "
        "the checkpoint"
    ]
    with log.open("a") as file:  # appending goes on cleanly
        file.write(records(3))
    assert [step for _, step in ((n, r["step"]) for n, r in read_jsonl(log))] == [1, 2, 3]


def test_an_intact_log_is_left_as_it_is_and_says_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text(records(1, 2))
    before = log.stat().st_mtime_ns
    with caplog.at_level(logging.WARNING):
        assert len(recover_jsonl(log)) == 2
    assert log.stat().st_mtime_ns == before and notes(caplog) == []
    assert recover_jsonl(tmp_path / "missing.jsonl") == []


def test_a_whole_last_record_without_its_newline_gets_one(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text(records(1) + json.dumps({"step": 2}))
    assert [r["step"] for r in recover_jsonl(log)] == [1, 2]
    assert log.read_text().endswith('{"step": 2}\n')


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (records(1) + "{oops\n" + records(3), r"log\.jsonl:2: invalid JSON"),  # not a crash's
        (records(1) + "{oops\n", r"log\.jsonl:2: invalid JSON"),  # the last line, but whole
        (records(1) + "[1, 2]\n", r"log\.jsonl:2: expected a JSON object, not a list"),
        (records(1) + '{"step": "two"}\n', r"log\.jsonl:2: not a record of this run"),
        (records(1) + "[" * 5000 + "\n", r"log\.jsonl:2: nested too deep"),
    ],
)
def test_damage_a_crash_cannot_cause_is_an_error_naming_the_line(
    tmp_path: Path, text: str, message: str
) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text(text)
    with pytest.raises(JsonlError, match=message):
        recover_jsonl(log, lambda r: r["step"] <= 5)
    assert log.read_text() == text  # refused, not rewritten


def test_bad_bytes_and_huge_lines_are_named_before_being_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(records(1).encode() + b'{"a": "\xff"}\n')
    with pytest.raises(JsonlError, match=r"data\.jsonl:2: not UTF-8 \(byte 0xff at 7\)"):
        read_jsonl(path)
    path.write_text(records(1) + "1" * 1001 + "\n")
    with pytest.raises(JsonlError, match=r"data\.jsonl:2: line longer than 1000 bytes"):
        read_jsonl(path, max_line_bytes=1000)


def test_reading_is_linear_in_the_number_of_lines(tmp_path: Path) -> None:
    """Two sizes, one ratio: 4x the lines take ~4x as long; a quadratic reader ~16x."""
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    small.write_text(records(*range(5_000)))
    large.write_text(records(*range(20_000)))

    def best(path: Path) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            read_jsonl(path)
            times.append(time.perf_counter() - started)
        return min(times)

    assert best(large) / best(small) < 8.0


def test_resume_checkpoint_clears_what_a_crash_left(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "run"
    done = run / "checkpoints" / "step-000002"
    done.mkdir(parents=True)
    (done / "trainer_state.pt").write_bytes(b"state")
    (run / "latest").write_text("step-000002")
    for name in (".step-000003.a1b2c3.tmp", ".step-000004.d4e5f6.tmp", ".step-000005.older"):
        (run / "checkpoints" / name / "weights").mkdir(parents=True)
    with pytest.raises(RuntimeError), atomic_path(run / "buffer.jsonl") as tmp:
        tmp.write_text("half")
        raise RuntimeError("a normal failure removes its own temporary file")
    (run / ".buffer.jsonl.x7y8z9.tmp").write_text("half")  # a kill does not
    with caplog.at_level(logging.WARNING):
        assert resume_checkpoint(run) == done
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000002"]
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "latest"]
    [note] = notes(caplog)
    assert note.startswith(f"{run}: removed ")
    assert note.endswith("and 1 more, left by a crash mid-write")  # 4 of them
    caplog.clear()
    assert resume_checkpoint(run) == done and notes(caplog) == []
