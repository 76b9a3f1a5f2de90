"""Batch execution of untrusted programs in the core's sandboxed worker pool.

One pool item is one program on all of its inputs (`run_job`), so a batch of many programs x
many inputs costs one pickle round trip per program, and a program that hangs or exhausts
memory loses only its own item: the pool kills the worker, reports the item's kind, and the
batch goes on. Results are cached by (program text, inputs) within a runner, because the
policy samples the same programs again and again across meta-iterations. The workers can also
be actors on a Ray cluster (`backend="ray"`, config `sandbox.backend`): each program still runs
in the sandbox's own worker under the same limits, so the results are the same.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from codeit.config import SandboxSection
from codeit.data import ArcTask
from codeit.grid import Grid
from codeit.interpreter import DEFAULT_MAX_STEPS, run_on_inputs
from codeit.scoring import Output, demo_score, solves_tests
from reasonloop.sandbox import Backend, Kind, make_pool

JOB_TARGET = "codeit.execution:run_job"
DEFAULT_CACHE_SIZE = 20_000  # results hold output grids: ~10 KB each at 30x30

Job = tuple[str, tuple[Grid, ...], int]


def run_job(job: Job) -> tuple[Output, ...]:
    """Worker side: (program source, inputs, max_steps) -> per input an output grid or the
    error text (`ProgramRuntimeError: line 2: ...`); syntax and type errors repeat per input."""
    source, inputs, max_steps = job
    return tuple(
        out if isinstance(out, tuple) else f"{type(out).__name__}: {out}"
        for out in run_on_inputs(source, inputs, max_steps=max_steps)
    )


@dataclass(frozen=True)
class ProgramResult:
    """A program's outputs on a list of inputs.

    `kind` is "ok" when the interpreter ran (single outputs may still be errors); otherwise
    the pool's verdict on the whole item ("timeout", "memory", "crash", "error") and every
    output is that error's text.
    """

    program: str
    outputs: tuple[Output, ...]
    kind: Kind

    @property
    def valid(self) -> bool:
        """Whether every output is a grid."""
        return all(not isinstance(out, str) for out in self.outputs)


@dataclass(frozen=True)
class Evaluation:
    """A program judged on a task: its outputs, the share of demonstrations it solves and
    whether it gets every test output right (the test outputs never feed back into search)."""

    program: str
    task_id: str
    demo_outputs: tuple[Output, ...]
    test_outputs: tuple[Output, ...]
    kind: Kind
    demo_score: float
    test_correct: bool


class ProgramRunner:
    """Runs programs on grids in `workers` sandboxed processes, with an LRU cache of results.

    Timeouts and memory kills are cached too: running a program that hung again would only
    hang again, at the cost of a whole time limit each time. `backend="ray"` puts the workers
    on the Ray cluster at `ray_address` (needs `reasonloop-core[ray]`; None: the cluster
    RAY_ADDRESS names, else a local Ray).
    """

    def __init__(
        self,
        workers: int = 2,
        *,
        time_limit_s: float = 1.0,
        memory_limit_mb: float = 1024.0,
        max_steps: int = DEFAULT_MAX_STEPS,
        cache_size: int = DEFAULT_CACHE_SIZE,
        backend: Backend = "local",
        ray_address: str | None = None,
    ) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, not {max_steps}")
        self.max_steps = max_steps
        self.cache_size = cache_size
        self.pool = make_pool(
            JOB_TARGET,
            workers,
            time_limit_s=time_limit_s,
            memory_limit_mb=memory_limit_mb,
            backend=backend,
            address=ray_address,
        )
        self._cache: OrderedDict[tuple[str, tuple[Grid, ...]], ProgramResult] = OrderedDict()
        self.executed = 0  # programs sent to the pool (cache misses)
        self.cache_hits = 0

    @classmethod
    def from_config(cls, sandbox: SandboxSection) -> Self:
        """The runner a run's `[sandbox]` section describes."""
        return cls(
            sandbox.workers,
            time_limit_s=sandbox.time_limit_s,
            memory_limit_mb=sandbox.memory_limit_mb,
            max_steps=sandbox.max_steps,
            backend=sandbox.backend,
            ray_address=sandbox.ray_address,
        )

    def run(
        self, programs: Sequence[str], inputs: Sequence[Sequence[Grid]], *, cache: bool = True
    ) -> list[ProgramResult]:
        """Program i on every grid of inputs[i], in order; each distinct (program, inputs)
        pair is executed once, and not at all if it is cached. `cache=False` neither reads
        nor fills the cache (for one-off programs, such as mutants, that would only evict
        the policy's recurring ones)."""
        if len(programs) != len(inputs):
            raise ValueError(f"{len(programs)} programs but {len(inputs)} input lists")
        keys = [(program, tuple(grids)) for program, grids in zip(programs, inputs, strict=True)]
        fresh: dict[tuple[str, tuple[Grid, ...]], ProgramResult] = {}
        missing = list(dict.fromkeys(k for k in keys if not cache or k not in self._cache))
        self.cache_hits += len(keys) - len(missing)
        if missing:
            jobs = [(program, grids, self.max_steps) for program, grids in missing]
            outcomes = self.pool.map(jobs, chunk_size=self._chunk_size(len(jobs)))
            self.executed += len(jobs)
            for (program, grids), outcome in zip(missing, outcomes, strict=True):
                if outcome.ok:
                    fresh[program, grids] = ProgramResult(program, outcome.value, "ok")
                else:
                    error = f"{outcome.kind}: {outcome.error}"
                    fresh[program, grids] = ProgramResult(
                        program, (error,) * len(grids), outcome.kind
                    )
        results = [fresh[key] if key in fresh else self._cache[key] for key in keys]
        if not cache:
            return results
        for key, result in zip(keys, results, strict=True):
            self._cache[key] = result
            self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return results

    def evaluate_many(self, candidates: Sequence[tuple[str, ArcTask]]) -> list[Evaluation]:
        """Each (program, task): run on the task's demonstration and test inputs in one job."""
        tasks = [task for _, task in candidates]
        inputs = [[e.input for e in (*task.train, *task.test)] for task in tasks]
        results = self.run([program for program, _ in candidates], inputs)
        evaluations = []
        for task, result in zip(tasks, results, strict=True):
            demo, test = result.outputs[: len(task.train)], result.outputs[len(task.train) :]
            evaluations.append(
                Evaluation(
                    program=result.program,
                    task_id=task.id,
                    demo_outputs=demo,
                    test_outputs=test,
                    kind=result.kind,
                    demo_score=demo_score(task.train, demo),
                    test_correct=solves_tests(task, test),
                )
            )
        return evaluations

    def evaluate(self, program: str, task: ArcTask) -> Evaluation:
        return self.evaluate_many([(program, task)])[0]

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> ProgramRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _chunk_size(self, jobs: int) -> int:
        """Small enough that every worker gets several chunks (a slow program does not hold
        up a long tail), large enough that messages stay few."""
        return max(1, min(64, jobs // (4 * self.pool.workers)))
