"""codeit sandbox throughput and search yield, measured in this run.

1. Overhead of the sandbox. The same (program, grids) jobs -- mutants of the seed programs on
   their own tasks' demonstration inputs -- are run (a) without isolation, by calling the
   interpreter directly, and (b) through `ProgramRunner`, the worker pool that isolates each
   program with time and memory limits, with its result cache off. Parallelism is kept out of
   the price of isolation: 1 sandbox worker is compared with 1 thread calling the interpreter,
   and N workers with N plain processes (a `ProcessPoolExecutor` calling the interpreter, no
   limits; threads would share one GIL). The ratio sandbox/direct at equal parallelism is the
   price of isolation at batch scale (goal: <= 3x).

2. Tasks solved vs sampling budget. The policy (a model spec, or a `codeit run` directory's
   latest checkpoint) samples `budget` programs per target task for growing budgets; a task
   counts as solved as in the paper (top 3 by demonstration score, all test outputs right).

    uv run python bench/codeit.py                      # part 1 only
    uv run python bench/codeit.py --budgets 1,2,4,8    # part 2 with the base SmolLM2 policy
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# This script is named like the package it measures: move its own folder to the end of the
# import path so that `import codeit` finds the package.
sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == Path(__file__).resolve().parent)

from codeit.data import load_tasks
from codeit.execution import ProgramRunner, run_job
from codeit.mutation import mutate
from codeit.program import parse
from codeit.seeds import SEED_PROGRAMS


def overhead_jobs(jobs: int) -> tuple[list[str], list[tuple]]:
    """`jobs` mutants of the seed programs, each with its task's demonstration inputs."""
    rng = random.Random(0)
    tasks = {t.id: t for t in load_tasks("arc1-train")}
    seeds = sorted(SEED_PROGRAMS.items())
    programs, inputs = [], []
    while len(programs) < jobs:
        task_id, source = seeds[rng.randrange(len(seeds))]
        mutant = mutate(parse(source), rng)
        if mutant is not None:
            programs.append(mutant.to_source())
            inputs.append(tuple(e.input for e in tasks[task_id].train))
    return programs, inputs


def direct(programs: list[str], inputs: list[tuple], parallel: int) -> tuple[float, list]:
    """Seconds and outputs of the jobs without isolation: this thread, or `parallel` plain
    processes (warmed up first, as the sandbox's workers are)."""
    jobs = [(p, grids, 10_000) for p, grids in zip(programs, inputs, strict=True)]
    if parallel == 1:
        [run_job(job) for job in jobs[:8]]  # the interpreter's imports and caches, as in workers
        started = time.perf_counter()
        outputs = [run_job(job) for job in jobs]
        return time.perf_counter() - started, outputs
    with ProcessPoolExecutor(parallel) as pool:
        list(pool.map(run_job, jobs[: 8 * parallel]))  # processes up, interpreter imported
        started = time.perf_counter()
        outputs = list(pool.map(run_job, jobs, chunksize=max(1, len(jobs) // (8 * parallel))))
        return time.perf_counter() - started, outputs


def sandboxed(programs: list[str], inputs: list[tuple], workers: int) -> tuple[float, list]:
    """Seconds and outputs of the jobs through `ProgramRunner` with `workers` workers."""
    with ProgramRunner(workers, time_limit_s=2.0) as runner:
        runner.run(programs[:8], inputs[:8], cache=False)  # workers up
        started = time.perf_counter()
        results = runner.run(programs, inputs, cache=False)
        return time.perf_counter() - started, [r.outputs for r in results]


def sandbox_overhead(jobs: int, workers: int) -> None:
    programs, inputs = overhead_jobs(jobs)
    print(f"{jobs} programs x their task's demonstration inputs, {os.cpu_count()} CPUs")
    print(f"  {'parallel':>8}  {'direct s':>9}  {'sandbox s':>9}  {'programs/s':>21}  ratio")
    for parallel in sorted({1, workers}):
        direct_s, expected = direct(programs, inputs, parallel)
        sandbox_s, outputs = sandboxed(programs, inputs, parallel)
        same = sum(o == e for o, e in zip(outputs, expected, strict=True))
        print(
            f"  {parallel:>8}  {direct_s:9.2f}  {sandbox_s:9.2f}  "
            f"{jobs / direct_s:9.0f} vs {jobs / sandbox_s:9.0f}  "
            f"{sandbox_s / direct_s:5.2f}x  (same outputs: {same}/{jobs})"
        )


def solved_vs_budget(policy_spec: str, budgets: list[int], tasks_count: int) -> None:
    from codeit.config import DEFAULT_CONFIG
    from codeit.loop import CodeitRun
    from codeit.policy import task_prompt
    from codeit.scoring import CumulativeScore

    config = DEFAULT_CONFIG.with_overrides(
        model={"spec": policy_spec}, data={"heldout_tasks": tasks_count, "eval_tasks": 0}
    )
    with tempfile.TemporaryDirectory() as tmp:
        run = CodeitRun(config, Path(tmp), learn=False)
        prompts = [task_prompt(t.train, config.data.prompt_examples) for t in run.targets]
        print(f"\n{policy_spec}: tasks solved vs programs sampled per task")
        for budget in budgets:
            groups = run.policy.sample(
                prompts,
                n=budget,
                temperature=config.search.temperature,
                max_new_tokens=config.search.max_new_tokens,
                seed=0,
            )
            candidates = [
                (p, t) for t, group in zip(run.targets, groups, strict=True) for p in group
            ]
            score = CumulativeScore(t.id for t in run.targets)
            for e in run.runner.evaluate_many(candidates):
                score.add(e.task_id, e.program, e.demo_score, e.test_correct)
            print(f"  budget {budget:3d}: solved {len(score.solved_ids)}/{len(run.targets)}")
        run.runner.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2, help="N: N workers vs N processes")
    parser.add_argument("--budgets", default="", help="e.g. 1,2,4,8 (part 2; needs a model)")
    parser.add_argument("--policy", default="smollm2-135m")
    parser.add_argument("--tasks", type=int, default=10)
    args = parser.parse_args()
    sandbox_overhead(args.jobs, args.workers)
    if args.budgets:
        budgets = [int(b) for b in args.budgets.split(",")]
        solved_vs_budget(args.policy, budgets, args.tasks)


if __name__ == "__main__":
    main()
