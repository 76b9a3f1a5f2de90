"""Programs x inputs through real sandboxed worker processes: results, failures, the cache."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from codeit.data import ArcTask, Example
from codeit.execution import ProgramRunner, run_job

G1 = ((1, 0, 0), (2, 0, 0))
G2 = ((0, 3), (0, 4), (5, 0))
BIG = tuple(tuple((7 * i + 3 * j) % 10 for j in range(30)) for i in range(30))
MIRROR = "O = vmirror(I)\n"
# rot90 composed 30^4 times: 810,000 steps, so the interpreter's own budget stops it only with
# a small max_steps; the runners below give it 10**8, so their time limit must stop it.
HANG = (
    "x1 = power(rot90, 30)\nx2 = power(x1, 30)\nx3 = power(x2, 30)\nx4 = power(x3, 30)\n"
    "x5 = initset(I)\nx6 = apply(x4, x5)\nO = first(x6)\n"
)
TIME_LIMIT_S = 0.5


@pytest.fixture(scope="module")
def runner() -> Iterator[ProgramRunner]:
    # A step budget far above the hang's, so only the time limit can stop it.
    with ProgramRunner(workers=2, time_limit_s=TIME_LIMIT_S, max_steps=10**8) as runner:
        yield runner


def test_run_job_reports_an_output_or_an_error_per_input() -> None:
    outputs = run_job(("x1 = hsplit(I, 3)\nO = first(x1)\n", (G1, G2), 100))
    assert outputs[0] == ((1,), (2,))
    assert outputs[1].startswith("ProgramRuntimeError: line 1: hsplit")
    assert (
        run_job(("import os\n", (G1, G2), 100))
        == (
            "ProgramSyntaxError: line 1: only assignments `x = primitive(args)` are allowed, "
            "not imports",
        )
        * 2
    )
    (type_error,) = run_job(("O = vmirror(TRUE)\n", (G1,), 100))
    assert type_error.startswith("ProgramTypeError: line 1: argument 1 of vmirror")
    (limit,) = run_job((HANG, (G1,), 100))
    assert limit.startswith("ProgramLimitError")


def test_batch_matches_in_process_execution(runner: ProgramRunner) -> None:
    programs = [
        MIRROR,
        "O = hmirror(I)\n",
        "O = rot90(I)\n",
        "O = nope(I)\n",
        "x1 = hsplit(I, 3)\nO = first(x1)\n",
    ]
    inputs = [[G1, G2], [G2], [G1, G2, BIG], [G1], [G1, G2]]
    results = runner.run(programs, inputs)
    assert [r.program for r in results] == programs
    for program, grids, result in zip(programs, inputs, results, strict=True):
        assert result.kind == "ok"
        assert result.outputs == run_job((program, tuple(grids), runner.max_steps))
    assert results[0].outputs == (((0, 0, 1), (0, 0, 2)), ((3, 0), (4, 0), (0, 5)))
    assert results[0].valid and results[2].valid
    assert not results[3].valid and not results[4].valid


def test_a_hanging_program_is_stopped_and_the_batch_goes_on() -> None:
    limit_s = 0.05
    runner = ProgramRunner(workers=1, time_limit_s=limit_s, max_steps=10**8)
    runner.run([MIRROR], [[G1]])  # the worker is up before the clock starts
    started = time.monotonic()
    results = runner.run([MIRROR, HANG, "O = rot180(I)\n"], [[G1], [G1, G2], [G2]])
    assert time.monotonic() - started < 100 * limit_s + 5
    assert [r.kind for r in results] == ["ok", "timeout", "ok"]
    assert results[1].outputs[0].startswith("timeout: ") and len(results[1].outputs) == 2
    assert not results[1].valid
    assert results[2].outputs == (((0, 5), (4, 0), (3, 0)),)
    # The pool keeps serving.
    assert runner.run(["O = dmirror(I)\n"], [[G1]])[0].outputs == (((1, 2), (0, 0), (0, 0)),)
    runner.close()


def test_results_are_cached_by_program_and_inputs(runner: ProgramRunner) -> None:
    program = "O = cmirror(I)\n"
    executed, hits = runner.executed, runner.cache_hits
    first = runner.run([program, program], [[G1], [G1]])  # one execution for both
    assert runner.executed == executed + 1 and runner.cache_hits == hits + 1
    again = runner.run([program, program], [[G1], [G2]])  # other inputs: another key
    assert runner.executed == executed + 2
    assert again[0] == first[0] and again[1].outputs != first[0].outputs
    runner.run([program], [[G1]], cache=False)  # bypasses the cache
    assert runner.executed == executed + 3


def test_the_cache_forgets_the_least_recently_used() -> None:
    with ProgramRunner(workers=1, cache_size=2) as small:
        a, b, c = "O = rot90(I)\n", "O = rot180(I)\n", "O = rot270(I)\n"
        small.run([a, b], [[G1], [G1]])
        small.run([a], [[G1]])  # a is now the most recent
        small.run([c], [[G1]])  # evicts b
        executed = small.executed
        small.run([a, c], [[G1], [G1]])
        assert small.executed == executed
        small.run([b], [[G1]])
        assert small.executed == executed + 1


def test_evaluate_scores_demonstrations_and_tests(runner: ProgramRunner) -> None:
    task = ArcTask(
        "mirror",
        train=(Example(G1, ((0, 0, 1), (0, 0, 2))), Example(G2, G2)),
        test=(Example(((5, 0),), ((0, 5),)),),
    )
    good = runner.evaluate(MIRROR, task)
    assert (good.demo_score, good.test_correct, good.kind) == (0.5, True, "ok")
    assert good.demo_outputs[0] == task.train[0].output and len(good.test_outputs) == 1
    bad, hung = runner.evaluate_many([("O = identity(I)\n", task), (HANG, task)])
    assert (bad.demo_score, bad.test_correct) == (0.5, False)
    assert (hung.demo_score, hung.test_correct, hung.kind) == (0.0, False, "timeout")
    assert hung.task_id == "mirror"


def test_mismatched_batches_are_rejected(runner: ProgramRunner) -> None:
    with pytest.raises(ValueError, match="2 programs but 1 input lists"):
        runner.run([MIRROR, MIRROR], [[G1]])
