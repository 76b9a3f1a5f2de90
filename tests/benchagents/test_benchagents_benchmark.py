"""A calendar dataset served as a real gRPC Benchmark service and graded through a client."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from benchagents.benchmark import DatasetBenchmark, serve_dataset
from benchagents.dataset import load_dataset_dir, write_dataset
from benchagents.domains import get_domain
from benchagents.domains.calendar.solver import format_clock
from benchagents.instance import Instance
from reasonloop.rpc import BenchmarkClient, ServerOptions

# Every optional constraint active and always solvable: the one instance a wrong answer
# is built against starts at 08:00, before any `no_meetings_before` (9-11) allows.
CONSTRAINED = {
    "num_participants": 2,
    "num_days": 2,
    "granularity": 30,
    "num_constraints": 6,
    "unsolvable_fraction": 0.0,
}


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    domain = get_domain("calendar")
    plan = domain.default_plan()
    rng = random.Random(7)
    instances = [
        domain.generate(domain.sample_params(plan, rng), rng, f"cal-{i:03d}") for i in range(5)
    ]
    instances.append(domain.generate(CONSTRAINED, rng, "cal-constrained"))
    run = tmp_path_factory.mktemp("run")
    return write_dataset(run, plan, instances, "calendar", {"generated": len(instances)})


def too_early(instance: Instance) -> str:
    """The reference's day, but from 08:00 for the right duration: breaks no_meetings_before."""
    day = instance.reference.split()[0]
    duration = instance.constraints["meeting_duration"]
    return f"Final Answer: {day} 08:00-{format_clock(8 * 60 + duration)}"


def test_served_dataset_lists_and_grades(dataset_dir: Path) -> None:
    dataset = load_dataset_dir(dataset_dir)
    domain = get_domain("calendar")
    by_id = {i.id: i for i in dataset.instances}
    server = serve_dataset(dataset_dir.parent.parent, ServerOptions(port=0))
    try:
        with BenchmarkClient(f"127.0.0.1:{server.port}") as client:
            info = client.info()
            assert (info.name, info.task_count) == ("calendar-v1", 6)
            tasks = client.tasks()
            assert [t.id for t in tasks] == list(by_id)
            for task in tasks:
                assert task.prompt == [{"role": "user", "content": by_id[task.id].prompt}]
                assert task.metadata == {
                    "domain": "calendar",
                    "constrainedness": str(domain.constrainedness(by_id[task.id])),
                }

            grades = client.grade([(i.id, f"Final Answer: {i.reference}") for i in by_id.values()])
            assert all(g.passed and g.score == 1.0 for g in grades)
            assert all(c.passed for g in grades for c in g.checks)

            target = by_id["cal-constrained"]
            [wrong] = client.grade([(target.id, too_early(target))])
            failed = {c.name: c.detail for c in wrong.checks if not c.passed}
            assert not wrong.passed and 0.0 < wrong.score < 1.0
            assert "no_meetings_before" in failed
            assert "earliest allowed" in failed["no_meetings_before"]
            assert wrong.score == pytest.approx(1 - len(failed) / len(wrong.checks))

            [malformed] = client.grade([(target.id, "whenever suits Alice")])
            assert malformed.score == 0.0 and not malformed.passed
    finally:
        server.stop(grace_s=0)


def test_in_process_grade_equals_the_remote_one(dataset_dir: Path) -> None:
    benchmark = DatasetBenchmark(load_dataset_dir(dataset_dir))
    target = next(i for i in benchmark.dataset.instances if i.id == "cal-constrained")
    local = benchmark.grade([(target.id, too_early(target))])
    with (
        serve_dataset(dataset_dir, ServerOptions(port=0)) as server,
        BenchmarkClient(f"127.0.0.1:{server.port}") as client,
    ):
        assert client.grade([(target.id, too_early(target))]) == local


def test_serving_a_missing_dataset_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no dataset version"):
        serve_dataset(tmp_path, ServerOptions(port=0))
