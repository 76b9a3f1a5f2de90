"""Runs programs on grids, calling DSL primitives only by lookup in `PRIMITIVES`.

Every call is charged to a `Budget` (steps, work, value size and depth) before its work is
done - including the calls that higher-order primitives (`apply`, `sfilter`, ...) make through
function arguments and the calls of function values primitives build (`compose`, `power`) -
so a program stops with a ProgramLimitError on its own, in time and memory the limits bound.
Wall time and process memory are also capped by the worker pool that runs this module (the
second line; which is why it must stay free of heavy imports such as torch).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from codeit.budget import Budget, ProgramLimitError, ProgramRuntimeError
from codeit.dsl import CONSTANTS, PRIMITIVES
from codeit.grid import Grid, to_grid
from codeit.program import (
    INPUT,
    OUTPUT,
    Const,
    FuncRef,
    IntLit,
    Program,
    ProgramError,
    ProgramSyntaxError,
    ProgramTypeError,
    Var,
    check_types,
    parse,
)

DEFAULT_MAX_STEPS = 10_000
DEFAULT_MAX_CELLS = 30 * 30 * 10

__all__ = [
    "ProgramError",
    "ProgramLimitError",
    "ProgramRuntimeError",
    "ProgramSyntaxError",
    "ProgramTypeError",
    "run_on_inputs",
    "run_program",
]


@lru_cache(maxsize=4096)
def _checked(program: Program) -> Program:
    check_types(program)
    return program


def _prepare(program: Program | str) -> Program:
    if isinstance(program, str):
        program = parse(program)
    elif not isinstance(program, Program):
        raise ProgramSyntaxError(f"expected a Program or its text, got {type(program).__name__}")
    return _checked(program)


def _execute(program: Program, grid: Grid, max_steps: int, max_cells: int) -> Grid:
    budget = Budget(max_steps, max_cells)
    env: dict[str, object] = {INPUT: grid}
    for line, stmt in enumerate(program.statements, start=1):
        args = []
        for arg in stmt.args:
            if isinstance(arg, Var):
                args.append(env[arg.name])
            elif isinstance(arg, Const):
                args.append(CONSTANTS[arg.name][0])
            elif isinstance(arg, IntLit):
                args.append(arg.value)
            elif isinstance(arg, FuncRef):
                args.append(budget.primitive(PRIMITIVES[arg.name]))
        primitive = PRIMITIVES[stmt.function]
        try:
            value = budget.call(primitive.name, primitive.fn, tuple(args), primitive)
        except ProgramError as error:
            raise type(error)(f"line {line}: {error}") from None
        env[stmt.target] = value
    try:
        return to_grid(env[OUTPUT])
    except ValueError as error:
        raise ProgramRuntimeError(f"O is not a valid grid: {error}") from None


def run_program(
    program: Program | str,
    grid: Grid,
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
    max_cells: int = DEFAULT_MAX_CELLS,
) -> Grid:
    """The output grid of the program on `grid`; raises a ProgramError subclass otherwise."""
    return _execute(_prepare(program), to_grid(grid), max_steps, max_cells)


def run_on_inputs(
    source: Program | str, grids: Iterable[Grid], **limits: int
) -> list[Grid | ProgramError]:
    """Run one program on several grids; each result is an output grid or the error it
    raised (parsing and type errors repeat for every grid)."""
    grids = list(grids)
    try:
        program = _prepare(source)
    except ProgramError as error:
        return [error] * len(grids)
    results: list[Grid | ProgramError] = []
    for grid in grids:
        try:
            results.append(run_program(program, grid, **limits))
        except ProgramError as error:
            results.append(error)
    return results
