"""ARC through the Benchmark service: Grade runs submitted programs in the sandbox."""

from __future__ import annotations

import pytest

from codeit.benchmark import ArcBenchmark, parse_grids
from codeit.data import load_tasks
from codeit.execution import ProgramRunner
from codeit.grid import grid_to_text
from codeit.seeds import SEED_PROGRAMS
from reasonloop.rpc import BenchmarkClient, serve_benchmark


@pytest.fixture(scope="module")
def seeded_tasks():
    tasks = {t.id: t for t in load_tasks("arc1-train")}
    return [tasks[task_id] for task_id in sorted(SEED_PROGRAMS)[:3]]


def test_grade_over_grpc_programs_grids_and_garbage(seeded_tasks) -> None:
    task = seeded_tasks[0]
    other = SEED_PROGRAMS[seeded_tasks[1].id]
    right_grids = "\n\n".join(grid_to_text(e.output) for e in task.test)
    with (
        ProgramRunner(1) as runner,
        serve_benchmark(ArcBenchmark("arc-test", seeded_tasks, runner), port=0) as server,
    ):
        client = BenchmarkClient(f"127.0.0.1:{server.port}")
        listed = client.tasks()
        assert [t.id for t in listed] == [t.id for t in seeded_tasks]
        assert grid_to_text(task.test[0].input) in listed[0].prompt
        grades = client.grade(
            [
                (task.id, SEED_PROGRAMS[task.id]),
                (task.id, right_grids),
                (task.id, other),
                (task.id, "import os"),
                (task.id, "x1 = hmirror(I)\nO = vconcat(x1, x1, x1)\n"),  # type error
            ]
        )
    assert [g.passed for g in grades] == [True, True, False, False, False]
    assert grades[0].score == 1.0
    assert grades[2].score < 1.0
    assert "not a program nor grids" in grades[3].checks[0].detail
    assert not grades[4].checks[0].passed and grades[4].checks[0].detail


def test_parse_grids_rejects_non_grids() -> None:
    assert parse_grids("01\n10\n\n2\n") == [((0, 1), (1, 0)), ((2,),)]
    with pytest.raises(ValueError):
        parse_grids("")
    with pytest.raises(ValueError):
        parse_grids("12\n3\n")
