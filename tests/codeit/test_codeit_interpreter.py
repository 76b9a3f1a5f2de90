"""Running programs: results, errors by kind, and the step and size limits."""

from __future__ import annotations

import pickle
import random
import subprocess
import sys
from collections import Counter

import pytest

from codeit.dsl import COLOR, CONSTANTS, PRIMITIVES, constants_of, fits
from codeit.dsl import GRID as GRID_TYPE
from codeit.grid import to_grid
from codeit.interpreter import (
    ProgramError,
    ProgramLimitError,
    ProgramRuntimeError,
    ProgramSyntaxError,
    ProgramTypeError,
    run_on_inputs,
    run_program,
)
from codeit.program import (
    Assignment,
    Const,
    FuncRef,
    IntLit,
    Program,
    Var,
    infer_types,
    parse,
)

GRID = (
    (0, 0, 0, 0, 0),
    (0, 3, 3, 0, 0),
    (0, 3, 3, 0, 4),
    (0, 0, 0, 0, 0),
)
LARGEST = "x1 = objects(I, TRUE, FALSE, TRUE)\nx2 = argmax(x1, size)\nO = subgrid(x2, I)\n"
ALL_PRIMITIVES = list(PRIMITIVES.values())
GRID_MAKERS = [p for p in ALL_PRIMITIVES if fits(p.returns, GRID_TYPE)]
CLOSE = Assignment("O", "vmirror", (Var("I"),))
FULL = tuple(tuple((i + j) % 10 for j in range(30)) for i in range(30))


def test_runs_text_and_parsed_programs() -> None:
    assert run_program(LARGEST, GRID) == ((3, 3), (3, 3))
    assert run_program(parse(LARGEST), [list(r) for r in GRID]) == ((3, 3), (3, 3))
    shifted = run_program(
        "x1 = objects(I, TRUE, FALSE, TRUE)\nx2 = rbind(shift, UP)\nx3 = mapply(x2, x1)\n"
        "x4 = cover(I, x3)\nx5 = merge(x1)\nx6 = cover(I, x5)\nO = paint(x6, x3)\n",
        GRID,
    )
    assert shifted == ((0, 3, 3, 0, 0), (0, 3, 3, 0, 4), (0, 0, 0, 0, 0), (0, 0, 0, 0, 0))


def test_run_on_inputs_reports_errors_per_grid() -> None:
    empty = ((0, 0), (0, 0))
    results = run_on_inputs(LARGEST, [GRID, empty])
    assert results[0] == ((3, 3), (3, 3))
    assert isinstance(results[1], ProgramRuntimeError)
    assert "line 2: argmax" in str(results[1])
    bad = run_on_inputs("O = nothing(I)", [GRID, GRID])
    assert len(bad) == 2 and all(isinstance(r, ProgramSyntaxError) for r in bad)


def test_error_kinds() -> None:
    with pytest.raises(ProgramSyntaxError):
        run_program("import os", GRID)
    with pytest.raises(ProgramTypeError, match="O must be a Grid"):
        run_program("O = width(I)", GRID)
    with pytest.raises(ProgramRuntimeError, match="line 2: hconcat"):
        run_program("x1 = tophalf(I)\nO = hconcat(I, x1)", GRID)
    with pytest.raises(ProgramRuntimeError, match="division by zero"):
        run_program("x1 = divide(3, 0)\nO = upscale(I, x1)", GRID)
    # every kind is a ProgramError, and survives pickling (errors cross process boundaries)
    for kind in (ProgramSyntaxError, ProgramTypeError, ProgramRuntimeError, ProgramLimitError):
        assert issubclass(kind, ProgramError)
        error = pickle.loads(pickle.dumps(kind("line 3: boom")))
        assert type(error) is kind and str(error) == "line 3: boom"


def test_repeated_upscale_hits_the_size_limit() -> None:
    source = "x1 = upscale(I, 3)\nx2 = upscale(x1, 3)\nx3 = upscale(x2, 3)\nO = upscale(x3, 3)\n"
    with pytest.raises(ProgramLimitError, match="line 2: upscale: grid of 36x45 exceeds 30x30"):
        run_program(source, GRID)


def test_step_limit_counts_calls_through_function_values() -> None:
    # 4 statements, but apply/sfilter call their function argument once per cell: 900 each
    source = (
        "x1 = asindices(I)\nx2 = apply(neighbors, x1)\nx3 = compose(even, size)\n"
        "x4 = sfilter(x2, x3)\nx5 = mapply(neighbors, x1)\nO = fill(I, 1, x5)\n"
    )
    assert run_program(source, FULL)[0][0] == 1
    with pytest.raises(ProgramLimitError, match="more than 1000 primitive calls"):
        run_program(source, FULL, max_steps=1000)
    with pytest.raises(ProgramLimitError, match="more than 3 primitive calls"):
        run_program(LARGEST, GRID, max_steps=3)  # 3 statements + 2 calls of size


def test_an_expensive_program_stops_at_the_default_limit() -> None:
    line = "x{k} = apply(neighbors, x1)\n"
    source = "x1 = asindices(I)\n" + "".join(line.format(k=k) for k in range(2, 14))
    source += "O = vmirror(I)\n"
    with pytest.raises(ProgramLimitError, match="more than 10000 primitive calls"):
        run_program(source, FULL)


def test_cell_limit() -> None:
    with pytest.raises(ProgramLimitError, match="line 1: value holds more than 100 items"):
        run_program("x1 = asindices(I)\nO = vmirror(I)", FULL, max_cells=100)
    assert run_program("x1 = asindices(I)\nO = vmirror(I)", GRID, max_cells=100)


def test_output_is_a_valid_grid() -> None:
    out = run_program("x1 = canvas(RED, TWO_BY_TWO)\nO = hconcat(x1, x1)", GRID)
    assert out == ((2, 2, 2, 2), (2, 2, 2, 2))
    assert isinstance(out, tuple) and all(isinstance(r, tuple) for r in out)
    with pytest.raises(ValueError, match="colours are 0-9"):
        run_program("O = vmirror(I)", ((11,),))


def test_interpreter_does_not_import_torch() -> None:
    code = "import sys, codeit.interpreter, codeit.seeds; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def _random_program(rng: random.Random, length: int) -> Program:
    """A random well-typed program: each call's arguments drawn from what fits its slots."""
    statements: list[Assignment] = []
    env = {"I": GRID_TYPE}
    for k in range(1, length + 1):
        target = "O" if k == length else f"x{k}"
        while True:
            prim = rng.choice(GRID_MAKERS if target == "O" else ALL_PRIMITIVES)
            args = []
            for param in prim.params:
                options = [Var(v) for v, t in env.items() if fits(t, param)]
                options += [Const(n) if n in CONSTANTS else FuncRef(n) for n in constants_of(param)]
                options += [IntLit(rng.randint(-3, 12))] if fits(COLOR, param) else []
                if not options:
                    break
                args.append(rng.choice(options))
            if len(args) < prim.arity:
                continue
            candidate = Program((*statements, Assignment(target, prim.name, tuple(args))))
            closed = candidate if target == "O" else Program((*candidate.statements, CLOSE))
            try:
                env = infer_types(closed)
            except ProgramTypeError:
                continue
            statements = list(candidate.statements)
            env.pop("O", None)
            break
    return Program(tuple(statements))


def test_random_programs_end_in_a_grid_or_a_program_error() -> None:
    """Whatever a well-typed program does, the interpreter answers with a valid grid or a
    ProgramError - never another exception (the worker pool relies on that)."""
    rng = random.Random(7)
    grids = [
        GRID,
        FULL,
        ((5,),),
        tuple(tuple(rng.randrange(3) for _ in range(7)) for _ in range(6)),
    ]
    outcomes = Counter()
    for _ in range(150):
        program = _random_program(rng, rng.randint(1, 6))
        for result in run_on_inputs(program, grids, max_steps=2000):
            outcomes[type(result).__name__] += 1
            if not isinstance(result, ProgramError):
                assert to_grid(result) == result
    assert outcomes["tuple"] > 0 and outcomes["ProgramRuntimeError"] > 0
