"""Type-aware mutation of seed programs, and the mutation-initialized replay buffer.

CodeIt (arXiv 2402.04858) starts its buffer with tasks made by mutating seed programs and
running them on training inputs: the policy first learns the DSL from programs that are
varied but meaningful. Three mutations, drawn with the official mutator's weights
(`MUTATION_WEIGHTS`: argument 0.5, function 0.25, definition 0.25):

- argument: one argument becomes another variable, constant or primitive that fits the slot;
  or, with probability `insert` (the official mutator does this too), a *new variable*
  defined just above the statement by a fresh random call of the slot's type;
- function: one call's primitive becomes another with a compatible signature;
- definition: one variable's whole definition becomes a fresh random call of its type built
  from earlier variables, constants and primitives.

Candidates are pre-filtered by the slot types, and every mutant is type-checked before it
is returned (by `check_types`, or trivially when the new argument or primitive has exactly
the type of the old one). Statements a mutation leaves unused are removed and variables are
renumbered, so mutants are canonical text (the policy never learns dead code, and the same
mutant reached twice is one program).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache
from itertools import islice
from typing import Literal, cast

from codeit.data import ArcTask, Example
from codeit.dsl import (
    COLOR,
    CONSTANTS,
    INT,
    PRIMITIVES,
    Type,
    fits,
)
from codeit.execution import ProgramRunner
from codeit.grid import MAX_SIDE, Grid
from codeit.program import (
    INPUT,
    OUTPUT,
    Arg,
    Assignment,
    Const,
    FuncRef,
    Program,
    ProgramError,
    Var,
    check_types,
    infer_types,
    parse,
)
from codeit.relabel import is_trivial
from codeit.replay import ReplayEntry
from codeit.scoring import Output

MutationKind = Literal["argument", "function", "definition"]
MUTATION_KINDS: tuple[MutationKind, ...] = ("argument", "function", "definition")
MUTATION_WEIGHTS: dict[MutationKind, float] = {
    "argument": 0.5,
    "function": 0.25,
    "definition": 0.25,
}
INSERT_PROBABILITY = 0.25  # an argument mutation that defines a new variable for the slot
_NEW = "x999"  # the inserted variable's name until `canonical` renumbers
DropReason = Literal["invalid", "trivial", "oversized", "duplicate"]

_TRIES_PER_SITE = 6  # candidates type-checked at one site before another site is tried


# `codeit.dsl.fits`, memoized: mutation asks the same (type, slot) questions over and over.
_fits = lru_cache(maxsize=1 << 16)(fits)


@lru_cache(maxsize=4096)
def _types(program: Program) -> dict[str, Type]:
    """`infer_types`, memoized: a seed is mutated many times, and equal type objects let
    `_fits` answer from its cache (each inference names its type variables afresh).
    Callers must not modify the result."""
    return infer_types(program)


def _arg_type(arg: Arg, env: Mapping[str, Type]) -> Type:
    if isinstance(arg, Var):
        return env[arg.name]
    if isinstance(arg, Const):
        return CONSTANTS[arg.name][1]
    if isinstance(arg, FuncRef):
        return PRIMITIVES[arg.name].type
    return COLOR if 0 <= arg.value <= 9 else INT


@lru_cache(maxsize=1024)
def _global_options(param: Type) -> tuple[Arg, ...]:
    """The constants and primitives (as function values) that fit a slot of type `param`."""
    names: list[Arg] = [Const(n) for n, (_, t) in CONSTANTS.items() if _fits(t, param)]
    return (*names, *(FuncRef(p.name) for p in PRIMITIVES.values() if _fits(p.type, param)))


def _options(
    program: Program, env: Mapping[str, Type], index: int, param: Type, rng: random.Random
) -> list[Arg]:
    """What may fill a slot of type `param` in statement `index`, in random order: the input
    or earlier variables of a fitting type, and fitting constants and primitives. Each next
    option is a variable with probability 1/2 while both kinds remain, so data flow is not
    drowned out by the ~150 primitives that fit a generic slot."""
    earlier = [INPUT, *(s.target for s in program.statements[:index])]
    variables: list[Arg] = [Var(name) for name in earlier if _fits(env[name], param)]
    globals_ = list(_global_options(param))
    rng.shuffle(variables)
    rng.shuffle(globals_)
    ordered = []
    while variables and globals_:
        ordered.append((variables if rng.random() < 0.5 else globals_).pop())
    return ordered + variables + globals_


def _with_statement(program: Program, index: int, statement: Assignment) -> Program:
    statements = list(program.statements)
    statements[index] = statement
    return Program(tuple(statements))


# A mutator yields candidate programs, each with whether its types are those of the original
# (the changed argument or primitive has exactly the type of the old one): then inference goes
# exactly as before and the candidate type-checks without running `check_types` again.
Mutants = Iterator[tuple[Program, bool]]


def _pick_argument(
    program: Program, rng: random.Random
) -> tuple[int, int, Assignment, Type] | None:
    """A random argument site: (statement index, argument index, the statement, the
    parameter type there), or None when no statement has arguments."""
    sites = [(i, j) for i, s in enumerate(program.statements) for j in range(len(s.args))]
    if not sites:
        return None
    i, j = rng.choice(sites)
    stmt = program.statements[i]
    return i, j, stmt, PRIMITIVES[stmt.function].params[j]


def _argument_mutants(program: Program, env: dict[str, Type], rng: random.Random) -> Mutants:
    picked = _pick_argument(program, rng)
    if picked is None:
        return
    i, j, stmt, param = picked
    for arg in _options(program, env, i, param, rng):
        if arg == stmt.args[j]:
            continue
        args = (*stmt.args[:j], arg, *stmt.args[j + 1 :])
        same = _arg_type(arg, env) == _arg_type(stmt.args[j], env)
        yield _with_statement(program, i, Assignment(stmt.target, stmt.function, args)), same


def _random_call(
    program: Program, env: Mapping[str, Type], index: int, t: Type, rng: random.Random
) -> Iterator[tuple[str, tuple[Arg, ...]]]:
    """Random calls (primitive, arguments) whose result fits type `t`, built from what is
    defined before statement `index`, constants and primitives."""
    options = [p for p in PRIMITIVES.values() if _fits(p.returns, t)]
    rng.shuffle(options)
    for prim in options:
        args = []
        for param in prim.params:
            fitting = _options(program, env, index, param, rng)
            if not fitting:
                break
            args.append(fitting[0])
        else:
            yield prim.name, tuple(args)


def _insertion_mutants(program: Program, env: dict[str, Type], rng: random.Random) -> Mutants:
    """One argument becomes a new variable, defined just above its statement."""
    picked = _pick_argument(program, rng)
    if picked is None:
        return
    i, j, stmt, param = picked
    for function, args in _random_call(program, env, i, param, rng):
        changed = (*stmt.args[:j], Var(_NEW), *stmt.args[j + 1 :])
        statements = list(program.statements)
        statements[i : i + 1] = [
            Assignment(_NEW, function, args),
            Assignment(stmt.target, stmt.function, changed),
        ]
        yield Program(tuple(statements)), False


@lru_cache(maxsize=1 << 14)
def _replacements(function: str, arg_types: tuple[Type, ...], result: Type) -> tuple[str, ...]:
    """Primitives other than `function` that take arguments of `arg_types` and return
    something that fits where a `result` is used."""
    return tuple(
        p.name
        for p in PRIMITIVES.values()
        if p.name != function
        and len(p.params) == len(arg_types)
        and _fits(p.returns, result)
        and all(_fits(t, q) for t, q in zip(arg_types, p.params, strict=True))
    )


def _function_mutants(program: Program, env: dict[str, Type], rng: random.Random) -> Mutants:
    i = rng.randrange(len(program.statements))
    stmt = program.statements[i]
    arg_types = tuple(_arg_type(a, env) for a in stmt.args)
    options = list(_replacements(stmt.function, arg_types, env[stmt.target]))
    rng.shuffle(options)
    old = PRIMITIVES[stmt.function].type
    for name in options:
        same = PRIMITIVES[name].type == old
        yield _with_statement(program, i, Assignment(stmt.target, name, stmt.args)), same


def _definition_mutants(program: Program, env: dict[str, Type], rng: random.Random) -> Mutants:
    i = rng.randrange(len(program.statements))
    stmt = program.statements[i]
    for function, args in _random_call(program, env, i, env[stmt.target], rng):
        yield _with_statement(program, i, Assignment(stmt.target, function, args)), False


Mutator = Callable[[Program, dict[str, Type], random.Random], Mutants]
_MUTATORS: dict[str, Mutator] = {
    "argument": _argument_mutants,
    "insertion": _insertion_mutants,
    "function": _function_mutants,
    "definition": _definition_mutants,
}


def canonical(program: Program) -> Program:
    """Drop statements whose value never reaches O and renumber variables x1, x2, ... in
    order, so equal programs have equal text."""
    needed = {OUTPUT}
    kept: list[Assignment] = []
    for stmt in reversed(program.statements):
        if stmt.target in needed:
            kept.append(stmt)
            needed.update(a.name for a in stmt.args if isinstance(a, Var))
    kept.reverse()
    return Program(tuple(kept)).renumbered()


def mutate(
    program: Program,
    rng: random.Random,
    *,
    kinds: Sequence[MutationKind] = MUTATION_KINDS,
    insert: float = INSERT_PROBABILITY,
    attempts: int = 20,
    tally: Counter[str] | None = None,
) -> Program | None:
    """A type-correct canonical mutant that differs from `program`, or None if no kind gave
    one in `attempts` random sites. The kind is drawn from `kinds` by `MUTATION_WEIGHTS` and
    kept over its attempts (so the weights are the kinds' shares of the mutants); only a kind
    that cannot apply (no other argument fits anywhere) passes to the next one drawn. An
    argument mutation inserts a new definition with probability `insert`. `tally`, if given,
    counts the kind that made the mutant ("insertion" for those argument mutations).
    `program` itself must type-check (ProgramTypeError otherwise)."""
    env = _types(program)
    original = canonical(program)
    remaining = list(kinds)
    while remaining:
        drawn = rng.choices(remaining, [MUTATION_WEIGHTS[k] for k in remaining])[0]
        remaining.remove(drawn)
        kind = "insertion" if drawn == "argument" and rng.random() < insert else drawn
        for _ in range(attempts):
            for mutant, same_types in islice(_MUTATORS[kind](program, env, rng), _TRIES_PER_SITE):
                mutant = canonical(mutant)
                if mutant == original:
                    continue
                if not same_types:
                    try:
                        check_types(mutant)
                    except ProgramError:  # ill-typed, or an insertion past MAX_STATEMENTS
                        continue
                if tally is not None:
                    tally[kind] += 1
                return mutant
    return None


def drop_reason(
    inputs: Sequence[Grid],
    outputs: Sequence[Output],
    seen: set[tuple[tuple[Grid, ...], tuple[Grid, ...]]],
    *,
    max_side: int = MAX_SIDE,
) -> DropReason | None:
    """Why a mutant's results make no task (None: they do, and their signature joins `seen`).

    invalid: an input gave an error (or the run timed out / ran out of memory); trivial: the
    outputs are the inputs, or one constant grid; oversized: an output side exceeds
    `max_side`; duplicate: another kept program gave the same outputs on the same inputs.
    """
    grids = tuple(out for out in outputs if not isinstance(out, str))
    if len(grids) < len(outputs):
        return "invalid"
    if is_trivial(inputs, grids):
        return "trivial"
    if any(len(g) > max_side or len(g[0]) > max_side for g in grids):
        return "oversized"
    signature = (tuple(inputs), grids)
    if signature in seen:
        return "duplicate"
    seen.add(signature)
    return None


Drawn = tuple[str, Program, ArcTask]  # (seed task id, program, task lending its inputs)


class MutationSource:
    """Seed programs (task id -> source) and the tasks whose demonstration inputs they run on:
    the maker of the mutation-initialized buffer.

    With probability `own_inputs` a mutant runs on its seed's own task, else on another task;
    only tasks whose inputs fit `max_side` lend inputs. `tally` counts "kept" and each drop
    reason over every `entries` call.
    """

    def __init__(
        self,
        seeds: Mapping[str, str],
        tasks: Sequence[ArcTask],
        *,
        max_side: int = MAX_SIDE,
        own_inputs: float = 0.75,
    ) -> None:
        if not seeds:
            raise ValueError("a mutation source needs at least one seed program")
        self.usable = [t for t in tasks if all(_fits_side(e.input, max_side) for e in t.train)]
        if not self.usable:
            raise ValueError(f"no task has demonstration inputs within {max_side}x{max_side}")
        self.by_id = {t.id: t for t in self.usable}
        self.parsed: dict[str, Program] = {}
        for task_id, source in seeds.items():
            try:
                program = parse(source)
                check_types(program)
            except ProgramError as error:
                raise ValueError(f"seed program of task {task_id} is invalid: {error}") from None
            self.parsed[task_id] = program
        self.seed_ids = sorted(self.parsed)
        self.max_side = max_side
        self.own_inputs = own_inputs
        self.tally: Counter[str] = Counter()

    def entries(
        self,
        runner: ProgramRunner,
        target_size: int,
        rng: random.Random,
        *,
        progress: Callable[[int, int], None] | None = None,
        batch_size: int = 256,
        max_programs: int | None = None,
    ) -> list[ReplayEntry]:
        """Up to `target_size` tasks made by running the unmutated seeds (first), then mutants
        (one to three mutations deep), in batches of `batch_size`; results are filtered by
        `drop_reason`. Each kept program becomes an entry (source "mutation", priority 1: it
        solves its examples) whose task_id is the seed's task, or `<seed task>@<inputs task>`
        when another task lent the inputs. Stops at `target_size` or after `max_programs`
        executed programs (default 50 per wanted task); `progress(kept, target_size)` is
        called after each batch.
        """
        limit = max_programs if max_programs is not None else 50 * target_size
        kept: list[ReplayEntry] = []
        seen: set[tuple[tuple[Grid, ...], tuple[Grid, ...]]] = set()
        tried: set[tuple[str, str]] = set()
        # The unmutated seeds first, on their own tasks (popped from the end: reversed).
        pending = [
            (t, self.parsed[t], self.by_id[t]) for t in reversed(self.seed_ids) if t in self.by_id
        ]
        executed = 0
        while len(kept) < target_size and executed < limit:
            batch = self._batch(min(batch_size, limit - executed), rng, pending, tried)
            if not batch:
                break
            inputs = [[e.input for e in task.train] for _, _, task in batch]
            results = runner.run([source for _, source, _ in batch], inputs, cache=False)
            executed += len(batch)
            for (seed_id, source, task), grids, result in zip(batch, inputs, results, strict=True):
                if len(kept) == target_size:
                    break
                reason = drop_reason(grids, result.outputs, seen, max_side=self.max_side)
                self.tally[reason or "kept"] += 1
                if reason is None:  # then every output is a grid, none an error
                    examples = tuple(
                        Example(i, cast(Grid, o))
                        for i, o in zip(grids, result.outputs, strict=True)
                    )
                    origin = seed_id if task.id == seed_id else f"{seed_id}@{task.id}"
                    kept.append(ReplayEntry(origin, "mutation", examples, source, 1.0))
            if progress is not None:
                progress(len(kept), target_size)
        return kept

    def _batch(
        self,
        want: int,
        rng: random.Random,
        pending: list[Drawn],
        tried: set[tuple[str, str]],
    ) -> list[tuple[str, str, ArcTask]]:
        """Up to `want` (seed id, source, task) not tried before: the pending seeds, then
        mutants; bounded, as mutation may fail or find nothing new."""
        batch: list[tuple[str, str, ArcTask]] = []
        for _ in range(20 * want):
            if len(batch) == want:
                break
            drawn = pending.pop() if pending else self._candidate(rng)
            if drawn is None:
                continue
            seed_id, program, task = drawn
            source = program.to_source()
            if (source, task.id) not in tried:
                tried.add((source, task.id))
                batch.append((seed_id, source, task))
        return batch

    def _candidate(self, rng: random.Random) -> Drawn | None:
        """A random mutant (one to three mutations deep) and the task lending its inputs."""
        seed_id = rng.choice(self.seed_ids)
        program: Program | None = self.parsed[seed_id]
        for _ in range(rng.choice((1, 1, 2, 3))):
            program = mutate(program, rng) if program is not None else None
        if program is None:
            return None
        own = seed_id in self.by_id and rng.random() < self.own_inputs
        return seed_id, program, self.by_id[seed_id] if own else rng.choice(self.usable)


def _fits_side(grid: Grid, side: int) -> bool:
    return len(grid) <= side and len(grid[0]) <= side
