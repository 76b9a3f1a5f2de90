"""What codeit's interpreter budget charges, against what the charged work takes.

The interpreter (`codeit.budget`) charges every primitive call, before it runs, the items it
reads (argument sizes, or the primitive's declared `cost`) and, after it, the items it built;
a run may spend `max_steps * WORK_PER_STEP` of them. That bounds a program's time only if no
primitive takes much longer per charged item than the others, so this script runs realistic
programs (mutants of the seed programs, on their own tasks' inputs) and prints:

1. per primitive, microseconds per charged item of its median call (calls without function
   arguments, so the time is the primitive's own; the slowest first): what SORT_COST,
   FLOOD_COST and the other declared costs keep near the rest;
2. how much of the default budget the programs use (the headroom of real programs), and what
   the whole budget takes at the slowest primitive's rate (the in-process worst case).

    uv run python bench/codeit_budget.py [--mutants 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

# This script is named like the package it measures: move its own folder to the end of the
# import path so that `import codeit` finds the package.
sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == Path(__file__).resolve().parent)

from codeit import interpreter
from codeit.budget import WORK_PER_STEP, Budget, FunctionValue
from codeit.data import load_tasks
from codeit.dsl import Primitive
from codeit.interpreter import DEFAULT_MAX_STEPS, ProgramError, run_program
from codeit.mutation import mutate
from codeit.program import parse
from codeit.seeds import SEED_PROGRAMS

TIMED_FROM = 500  # charged items: smaller calls are timed, but too short to time reliably


class TimedBudget(Budget):
    """A Budget that records, per primitive, seconds and items charged of its own calls."""

    seconds: ClassVar[dict[str, list[float]]] = defaultdict(list)
    charged: ClassVar[dict[str, list[int]]] = defaultdict(list)
    runs: ClassVar[list[Budget]] = []

    def __init__(self, max_steps: int, max_cells: int) -> None:
        super().__init__(max_steps, max_cells)
        TimedBudget.runs.append(self)

    def call(
        self, name: str, fn: Callable, args: tuple, primitive: Primitive | None = None
    ) -> object:
        if primitive is None or any(isinstance(a, FunctionValue) for a in args):
            return super().call(name, fn, args, primitive)
        work_before, started = self.work_left, time.perf_counter()
        try:
            return super().call(name, fn, args, primitive)
        finally:
            elapsed, charged = time.perf_counter() - started, work_before - self.work_left
            if charged >= TIMED_FROM:
                TimedBudget.seconds[name].append(elapsed)
                TimedBudget.charged[name].append(charged)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=int, default=20, help="mutants per seed program")
    args = parser.parse_args()
    rng = random.Random(0)
    tasks = {t.id: t for t in load_tasks("arc1-train")}
    jobs = []
    for task_id, source in sorted(SEED_PROGRAMS.items()):
        grids = [e.input for e in (*tasks[task_id].train, *tasks[task_id].test)]
        program = parse(source)
        jobs.append((program, grids))
        mutants = (mutate(program, rng) for _ in range(args.mutants))
        jobs += [(m, grids) for m in mutants if m is not None]
    interpreter.Budget = TimedBudget  # type: ignore[misc]  # the runs below record their calls
    started = time.perf_counter()
    outcomes: dict[str, int] = defaultdict(int)
    for program, grids in jobs:
        for grid in grids:
            try:
                run_program(program, grid)
                outcomes["grid"] += 1
            except ProgramError as error:
                outcomes[type(error).__name__] += 1
    elapsed = time.perf_counter() - started
    print(f"{len(jobs)} programs x their inputs: {dict(outcomes)} in {elapsed:.1f} s\n")

    # the median call's rate: a single call's time is at the mercy of the scheduler and the GC
    rates = {
        name: statistics.median(
            s / c for s, c in zip(TimedBudget.seconds[name], TimedBudget.charged[name], strict=True)
        )
        for name in TimedBudget.seconds
    }
    print("primitive        us/item  calls  median items")
    for name, rate in sorted(rates.items(), key=lambda kv: -kv[1])[:15]:
        items = statistics.median(TimedBudget.charged[name])
        print(f"{name:15s} {rate * 1e6:8.3f} {len(TimedBudget.charged[name]):6d} {items:13.0f}")

    budget = DEFAULT_MAX_STEPS * WORK_PER_STEP
    used = sorted(b.max_work - b.work_left for b in TimedBudget.runs)
    slowest = max(rates.values())
    p99 = used[int(0.99 * (len(used) - 1))]
    print(
        f"\nwork used per run (default budget {budget:,} items): "
        f"median {statistics.median(used):,.0f}, 99th percentile {p99:,}, most {used[-1]:,}"
        f" ({used[-1] / budget:.1%} of the budget)"
    )
    print(f"the whole budget at the slowest rate above: {budget * slowest:.2f} s")


if __name__ == "__main__":
    main()
