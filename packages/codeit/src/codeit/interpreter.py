"""Runs programs on grids, calling DSL primitives only by lookup in `PRIMITIVES`.

Every primitive call counts against a step budget - including the calls that higher-order
primitives (`apply`, `sfilter`, ...) make through function arguments - and every value a
statement produces is bounded in size, so a program cannot run away in time or memory
beyond what the limits allow. Wall time and process memory are left to the worker pool that
runs this module (which is why it must stay free of heavy imports such as torch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

from codeit.dsl import CONSTANTS, PRIMITIVES, DSLError, DSLLimitError
from codeit.dsl.containers import is_location
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
PRODUCED_PER_CELL = 50


class ProgramRuntimeError(ProgramError):
    """A primitive failed on the values it got (empty collection, shapes that differ, ...)."""


class ProgramLimitError(ProgramError):
    """The program exceeded a step or size limit."""


__all__ = [
    "ProgramError",
    "ProgramLimitError",
    "ProgramRuntimeError",
    "ProgramSyntaxError",
    "ProgramTypeError",
    "run_on_inputs",
    "run_program",
]


class _Budget:
    """Counts primitive calls, and the items of the collections they return: nested calls
    (inside `apply`, say) never reach the per-statement size check, so their total output
    is capped here (at PRODUCED_PER_CELL times max_cells)."""

    def __init__(self, max_steps: int, max_cells: int) -> None:
        self.left = max_steps
        self.max_steps = max_steps
        self.items_left = PRODUCED_PER_CELL * max_cells

    def call(self, name: str, args: tuple) -> object:
        self.left -= 1
        if self.left < 0:
            raise ProgramLimitError(f"more than {self.max_steps} primitive calls")
        value = self._call(name, args)
        if isinstance(value, (tuple, frozenset)):
            self.items_left -= len(value)
            if self.items_left < 0:
                raise ProgramLimitError(f"{name}: the program built too many values")
        return value

    def _call(self, name: str, args: tuple) -> object:
        try:
            return PRIMITIVES[name].fn(*args)
        except ProgramError:
            raise
        except DSLLimitError as error:
            raise ProgramLimitError(f"{name}: {error}") from None
        except DSLError as error:
            raise ProgramRuntimeError(f"{name}: {error}") from None
        except RecursionError:
            raise ProgramLimitError(f"{name}: values nested too deeply") from None
        except Exception as error:  # a primitive handed values it was not typed for
            raise ProgramRuntimeError(f"{name}: {type(error).__name__}: {error}") from None

    def function(self, name: str) -> Callable:
        """A primitive as a function value whose calls are counted."""
        return lambda *args: self.call(name, args)


def _cells(value: object) -> int:
    """How many items a value holds: the cells of a grid, the points or cells of a patch,
    summed through nested collections."""
    if isinstance(value, frozenset) or (isinstance(value, tuple) and not is_location(value)):
        return sum(_cells(v) for v in value) or 1
    return 1


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
    budget = _Budget(max_steps, max_cells)
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
                args.append(budget.function(arg.name))
        try:
            value = budget.call(stmt.function, tuple(args))
        except ProgramError as error:
            raise type(error)(f"line {line}: {error}") from None
        if _cells(value) > max_cells:
            raise ProgramLimitError(f"line {line}: value holds more than {max_cells} items")
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
