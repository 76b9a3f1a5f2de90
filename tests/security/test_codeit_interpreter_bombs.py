"""Programs built to run away, each stopped by codeit's interpreter on its own.

Every bomb is a valid DSL program that earlier limits let through: multiplying calls through
function values that cost nothing (`compose`, `power`), values whose shared structure makes
hashing or measuring them exponential, types that double with every statement, primitives
whose work grows faster than their arguments, a range built before it was counted. Each runs
in-process in a child interpreter with a memory cap and a timeout, so that a regression fails
instead of hanging the suite; the interpreter must end it with a program error, not an
exception of Python's own, and well within the timeout.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from codeit.budget import MAX_DEPTH, Budget, ProgramLimitError
from codeit.data import load_tasks
from codeit.interpreter import DEFAULT_MAX_CELLS, DEFAULT_MAX_STEPS, run_program
from codeit.seeds import SEED_PROGRAMS

TIMEOUT_S = 120  # the generous bound: each bomb stops within about a second on a loaded core
MEMORY_CAP = 3 << 30  # bytes of address space of the child running a bomb


def _chain(first: int, count: int, line: str) -> str:
    """Statements x{first}..x{first+count-1}, each built from the one before."""
    return "".join(line.format(k=k, p=k - 1) for k in range(first, first + count))


# x5: a function nesting repeat(_, 30) 16 deep: one call builds a 30-wide, 16-deep tuple out
# of 16 small ones, whose walk (hash, comparison, size) visits 30**16 items
TREE = "x1 = rbind(repeat, 30)\n" + _chain(2, 4, "x{k} = compose(x{p}, x{p})\n")
FAR_COPY = "x1 = asindices(I)\nx2 = astuple(30, 30)\nx3 = shift(x1, x2)\n"  # I's cells, moved off

BOMBS = {
    "hash of a shared tuple": (
        TREE
        + "x6 = compose(initset, x5)\nx7 = initset(ZERO)\nx8 = apply(x6, x7)\nO = vmirror(I)\n",
        r"line 8: value holds more than 9000 items \(repeat\)",
    ),
    "size check of a shared tuple": (
        TREE + "x6 = repeat(ZERO, 1)\nx7 = apply(x5, x6)\nO = vmirror(I)\n",
        r"line 7: value holds more than 9000 items \(repeat\)",
    ),
    "compose doubling calls that do nothing": (
        "x1 = power(rot90, 0)\n"
        + _chain(2, 35, "x{k} = compose(x{p}, x{p})\n")
        + "x37 = initset(I)\nx38 = apply(x36, x37)\nO = vmirror(I)\n",
        r"line 38: more than 10000 primitive calls",
    ),
    "power nested six deep": (
        "x1 = power(rot90, 0)\n"
        + _chain(2, 6, "x{k} = power(x{p}, 30)\n")
        + "x8 = initset(I)\nx9 = apply(x7, x8)\nO = vmirror(I)\n",
        r"line 9: more than 10000 primitive calls",
    ),
    "sets nested 8,192 deep": (
        "x1 = compose(initset, initset)\n"
        + _chain(2, 12, "x{k} = compose(x{p}, x{p})\n")
        + "x14 = initset(ZERO)\nx15 = apply(x13, x14)\nO = vmirror(I)\n",
        r"line 6: the type of x6 has more than 64 parts",
    ),
    "tuples nested 1,024 deep": (
        "x1 = rbind(repeat, 1)\n"
        + _chain(2, 10, "x{k} = compose(x{p}, x{p})\n")
        + "x12 = repeat(ZERO, 1)\nx13 = apply(x11, x12)\nO = vmirror(I)\n",
        r"line 7: the type of x7 has more than 64 parts",
    ),
    "interval of a billion numbers": (
        "x1 = initset(UNITY)\nx2 = fork(shift, identity, ulcorner)\nx3 = power(x2, 30)\n"
        "x4 = initset(x1)\nx5 = apply(x3, x4)\nx6 = first(x5)\nx7 = ulcorner(x6)\n"
        "x8 = rowof(x7)\nx9 = interval(ZERO, x8, ONE)\nO = vmirror(I)\n",
        r"line 9: interval: integer 1073741824 exceeds 10000",
    ),
    "manhattan of 900 x 900 cells, 900 times": (
        FAR_COPY + "x4 = rbind(manhattan, x1)\nx5 = lbind(shift, x3)\nx6 = compose(x4, x5)\n"
        "x7 = apply(x6, x1)\nO = vmirror(I)\n",
        r"line 7: manhattan: work budget exceeded",
    ),
    "sorting 3,600 points, 7,200 times": (
        FAR_COPY + "x4 = combine(x1, x3)\nx5 = backdrop(x4)\nx6 = lbind(other, x5)\n"
        "x7 = apply(x6, x5)\nx8 = apply(x6, x5)\nO = vmirror(I)\n",
        r"line 7: other: work budget exceeded",
    ),
    "occurrences of a 15 x 15 object, 900 times": (
        "x1 = astuple(15, 15)\nx2 = canvas(ZERO, x1)\nx3 = asobject(x2)\n"
        "x4 = lbind(occurrences, I)\nx5 = asindices(I)\nx6 = lbind(shift, x3)\n"
        "x7 = compose(x4, x6)\nx8 = apply(x7, x5)\nO = vmirror(I)\n",
        r"line 8: occurrences: work budget exceeded",
    ),
    "gravitate 60 shifts of 900 cells, 900 times": (
        "x1 = asindices(I)\nx2 = multiply(30, 3)\nx3 = subtract(x2, 2)\nx4 = astuple(0, x3)\n"
        "x5 = shift(x1, x4)\nx6 = lbind(shift, x1)\nx7 = rbind(gravitate, x5)\n"
        "x8 = compose(x7, x6)\nx9 = apply(x8, x1)\nO = vmirror(I)\n",
        r"line 9: gravitate: work budget exceeded",
    ),
}

CHILD = """
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
from codeit.interpreter import ProgramError, run_program
started = time.monotonic()
try:
    run_program(sys.stdin.read(), tuple(tuple(0 for _ in range(30)) for _ in range(30)))
    outcome = "a grid"
except ProgramError as error:
    outcome = f"{{type(error).__name__}}: {{error}}"
print(json.dumps({{"outcome": outcome, "seconds": time.monotonic() - started}}))
"""


@pytest.mark.parametrize("name", list(BOMBS))
def test_the_interpreter_alone_stops_each_bomb(name: str) -> None:
    source, message = BOMBS[name]
    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(cap=MEMORY_CAP)],
        input=source,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout)  # the outcome, and the seconds it took to tell
    assert result["outcome"].startswith(("ProgramLimitError: ", "ProgramTypeError: ")), result
    assert re.search(message, result["outcome"]), result


def test_values_are_measured_once_per_part_and_refused_when_too_deep() -> None:
    budget = Budget(DEFAULT_MAX_STEPS, DEFAULT_MAX_CELLS)
    tree: object = (1, 2, 3)
    for _ in range(16):  # 30 copies of the level below: 16 tuples in memory, 30**16 to walk
        tree = (tree,) * 30
    assert budget.size(tree) == 3 * 30**16
    for kind in (tuple, frozenset):
        deep: object = 0
        for _ in range(8192):
            deep = kind((deep,))
        with pytest.raises(ProgramLimitError, match=f"nested more than {MAX_DEPTH} deep"):
            budget.size(deep)


def test_calls_of_built_function_values_are_steps() -> None:
    # power, compose, initset, apply, vmirror, plus x2 once and x1 twice inside apply
    source = (
        "x1 = power(rot90, 0)\nx2 = compose(x1, x1)\nx3 = initset(I)\nx4 = apply(x2, x3)\n"
        "O = vmirror(I)\n"
    )
    assert run_program(source, ((1, 2),), max_steps=8) == ((2, 1),)
    with pytest.raises(ProgramLimitError, match="more than 7 primitive calls"):
        run_program(source, ((1, 2),), max_steps=7)


def test_seed_programs_give_their_outputs_on_a_fifth_of_the_default_budget() -> None:
    tasks = {t.id: t for t in load_tasks("arc1-train")}
    for task_id, source in SEED_PROGRAMS.items():
        for example in (*tasks[task_id].train, *tasks[task_id].test):
            output = run_program(source, example.input, max_steps=DEFAULT_MAX_STEPS // 5)
            assert output == example.output, task_id
