"""What one run of a program may spend, charged before the work is done.

Three limits stop a program on their own, without the worker pool's deadline:

- steps: every call of a primitive and of a function value a primitive built (`compose`,
  `power`, `rbind`, ...) is one step, so nesting such values multiplies steps, not free calls;
- work: each call is charged, before it runs, what it reads (the size of its arguments, or the
  primitive's own `cost`), and after it, the size of what it returned; `max_steps` times
  WORK_PER_STEP items in all;
- values: every value a call returns holds at most `max_cells` items and is nested at most
  MAX_DEPTH deep, so hashing, comparing or walking any value stays cheap.

A value's size counts an item each time it occurs, as a hash or a comparison walks it, so a
tuple of 30 copies of a tuple of 30 copies of ... is as big as it is to walk; measuring it
visits each distinct part once (memoized by id), so the measure never costs what it refuses.
The measures of big parts are kept for the whole run, with the parts themselves (so that their
ids stay theirs): a value passed on from call to call is walked once, not at every call.

`bench/codeit_budget.py` measures what a charged item takes per primitive (declared costs keep
the median call of each under about 0.5 us) and what real programs use of the budget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from typing_extensions import TypeIs

from codeit.dsl import DSLError, DSLLimitError, Primitive
from codeit.program import ProgramError

_R = TypeVar("_R")

WORK_PER_STEP = 100  # items a run may read and build per step of its budget (the seeds: < 2)
MAX_DEPTH = 32  # nesting of collections (a grid is 2 deep, a set of objects 2, cells are items)
_REMEMBERED = 16  # parts at least this big keep their measure for the whole run
_COLLECTIONS = frozenset({tuple, frozenset})


class ProgramRuntimeError(ProgramError):
    """A primitive failed on the values it got (empty collection, shapes that differ, ...)."""


class ProgramLimitError(ProgramError):
    """The program exceeded a step, work, size or depth limit."""


def _is_item(value: tuple) -> bool:
    """A point (i, j) or a cell (colour, (i, j)): one item, not a collection of them."""
    if len(value) != 2 or not isinstance(value[0], int):
        return False
    second = value[1]
    return isinstance(second, int) or (
        isinstance(second, tuple)
        and len(second) == 2
        and isinstance(second[0], int)
        and isinstance(second[1], int)
    )


def _is_collection(value: object) -> TypeIs[tuple | frozenset]:
    return isinstance(value, frozenset) or (isinstance(value, tuple) and not _is_item(value))


class FunctionValue:
    """A function a program holds (a primitive passed by name, or one a primitive built):
    every call of it is a step of the budget that made it."""

    __slots__ = ("_budget", "_fn", "_name", "_primitive")

    def __init__(
        self, budget: Budget, name: str, fn: Callable, primitive: Primitive | None
    ) -> None:
        self._budget, self._name, self._fn, self._primitive = budget, name, fn, primitive

    def __call__(self, *args: object) -> object:
        return self._budget.call(self._name, self._fn, args, self._primitive)


class Budget:
    """The steps, work and value limits of one run of a program on one input."""

    def __init__(self, max_steps: int, max_cells: int) -> None:
        self.max_steps = max_steps
        self.max_work = max_steps * WORK_PER_STEP
        self.max_cells = max_cells
        self.steps_left = max_steps
        self.work_left = self.max_work
        self._remembered: dict[int, tuple[object, int, int]] = {}  # id -> (part, size, depth)

    def primitive(self, primitive: Primitive) -> FunctionValue:
        """A primitive as a function value (an argument such as `size` in argmax(x, size))."""
        return FunctionValue(self, primitive.name, primitive.fn, primitive)

    def call(
        self, name: str, fn: Callable, args: tuple, primitive: Primitive | None = None
    ) -> object:
        """fn(*args), charged to the budget: a primitive's work before and its result after;
        a function value a primitive built only its step (its own calls are charged)."""
        self.steps_left -= 1
        if self.steps_left < 0:
            raise ProgramLimitError(f"more than {self.max_steps} primitive calls")
        if primitive is not None:
            cost = primitive.cost
            work = (
                sum(map(self.size, args))
                if cost is None
                else _guarded(name, lambda: cost(self.size, *args))
            )
            self._spend(name, 1 + work)
        value = _guarded(name, lambda: fn(*args))
        if primitive is None:
            return value  # a value some primitive already returned (and was charged for)
        if callable(value) and not isinstance(value, FunctionValue):
            return FunctionValue(self, name, value, None)
        if _is_collection(value):
            try:
                size = self.size(value)
            except ProgramLimitError as error:
                raise ProgramLimitError(f"{name}: {error}") from None
            if size > self.max_cells:
                raise ProgramLimitError(f"value holds more than {self.max_cells} items ({name})")
            self._spend(name, size)
        return value

    def size(self, value: object) -> int:
        """How many items a value holds (points, cells, numbers, functions are one each),
        counting shared parts each time they occur; refuses values nested too deeply."""
        if not _is_collection(value):
            return 1
        memo: dict[int, tuple[object, int, int]] = {}
        size = self._measure(value, memo, 1)[1]
        self._remembered.update((k, m) for k, m in memo.items() if m[1] >= _REMEMBERED)
        return size

    def _measure(
        self, value: tuple | frozenset, memo: dict[int, tuple[object, int, int]], level: int
    ) -> tuple[object, int, int]:
        """(value, size, depth) of a collection, each distinct part walked once: `memo` (for
        this measure) and the remembered parts hold them by id, and keep each part alive."""
        known = self._remembered.get(id(value)) or memo.get(id(value))
        if known is not None:
            return known
        if level > MAX_DEPTH:
            raise ProgramLimitError(f"values nested more than {MAX_DEPTH} deep")
        if _COLLECTIONS.isdisjoint(map(type, value)):  # numbers only (a row): no walk in Python
            measured = (value, len(value) or 1, 1)
            memo[id(value)] = measured
            return measured
        size = depth = 0
        for item in value:
            if _is_collection(item):
                _, part_size, part_depth = self._measure(item, memo, level + 1)
                size += part_size
                depth = max(depth, part_depth)
            else:
                size += 1
        if depth + 1 > MAX_DEPTH:
            raise ProgramLimitError(f"values nested more than {MAX_DEPTH} deep")
        measured = (value, size or 1, depth + 1)
        memo[id(value)] = measured
        return measured

    def _spend(self, name: str, work: int) -> None:
        self.work_left -= work
        if self.work_left < 0:
            raise ProgramLimitError(
                f"{name}: work budget exceeded (more than {self.max_work} items read and built)"
            )


def _guarded(name: str, work: Callable[[], _R]) -> _R:
    """Run a primitive's (or its cost's) code, turning its failures into program errors."""
    try:
        return work()
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
