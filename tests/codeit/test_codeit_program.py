"""The program language: parsing untrusted text, canonical text, types, and the grammar."""

from __future__ import annotations

import pytest

from codeit.dsl import COLORED, GRID, INT, INTS, OBJECT, OBJECTS, Fn
from codeit.program import (
    MAX_CHARS,
    MAX_STATEMENTS,
    Assignment,
    Const,
    FuncRef,
    IntLit,
    Program,
    ProgramSyntaxError,
    ProgramTypeError,
    Var,
    check_types,
    infer_types,
    parse,
)
from codeit.seeds import SEED_PROGRAMS

EXAMPLE = """\
x1 = objects(I, TRUE, FALSE, TRUE)
x2 = argmax(x1, size)
O = subgrid(x2, I)
"""


def test_parse_structure() -> None:
    program = parse(EXAMPLE)
    assert len(program) == 3
    assert program.statements[0] == Assignment(
        "x1", "objects", (Var("I"), Const("TRUE"), Const("FALSE"), Const("TRUE"))
    )
    assert program.statements[1] == Assignment("x2", "argmax", (Var("x1"), FuncRef("size")))
    assert parse("O = upscale(I, -2)\n").statements[0].args[1] == IntLit(-2)
    assert program.to_source() == EXAMPLE
    assert hash(program) == hash(parse(EXAMPLE))


def test_round_trip_on_all_seeds() -> None:
    for task_id, source in SEED_PROGRAMS.items():
        program = parse(source)
        assert parse(program.to_source()) == program, task_id
        assert program.to_source() == source, f"{task_id}: seed text is not canonical"
        assert program.renumbered() == program, f"{task_id}: seed variables not x1, x2, ..."
        check_types(program)


def test_renumbered() -> None:
    program = parse("x7 = vmirror(I)\nx3 = hconcat(x7, I)\nO = vconcat(x3, x7)\n")
    assert program.renumbered().to_source() == (
        "x1 = vmirror(I)\nx2 = hconcat(x1, I)\nO = vconcat(x2, x1)\n"
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import os\nO = vmirror(I)", "line 1: only assignments.*not imports"),
        ('x = __import__("os")\nO = vmirror(I)', "line 1: dunder names"),
        ("x1 = I.shape\nO = vmirror(I)", "line 1: .*attribute access"),
        ("x1 = (lambda: 1)()\nO = vmirror(I)", "line 1: .*lambdas"),
        ("x1 = 10**100\nO = vmirror(I)", "line 1: .*operators"),
        ("O = upscale(I, 10**100)", "line 1: .*operators"),
        ("O = upscale(I, 99999999999999999999999)", "line 1: integer literal .* outside"),
        ("O = upscale(I, 31)", "outside -30..30"),
        ("O = upscale(I, k=2)", "line 1: keyword arguments"),
        ("x1 = hsplit(I, 2)\nO = x1[0]", "line 2: .*subscripts"),
        ("x1 = hsplit(I, 2)\nO = first(x1[0])", "line 2: .*subscripts"),
        ("O = first([x for x in I])", "comprehensions"),
        ("O = frobnicate(I)", "line 1: unknown primitive 'frobnicate'"),
        ("O = vmirror(x1)", "line 1: variable x1 is used before it is assigned"),
        ("O = vmirror(J)", "unknown name 'J'"),
        ("x1 = vmirror(I)", "must end by assigning the output grid O"),
        ("", "must end by assigning the output grid O"),
        ("O = vmirror(I)\nx1 = hmirror(O)", "line 2: O must be assigned by the last statement"),
        ("x1 = vmirror(I)\nx1 = hmirror(I)\nO = x1", "line 2: variable x1 is assigned twice"),
        ("I = vmirror(I)\nO = vmirror(I)", "line 1: cannot assign 'I'"),
        ("grid = vmirror(I)\nO = vmirror(grid)", "line 1: cannot assign 'grid'"),
        ("x1, x2 = vmirror(I)\nO = vmirror(I)", "exactly one variable"),
        ("O = vmirror(I", "line 1: not valid program text"),
        ('O = vmirror("I")', "str literals"),
        ("O = vmirror(*I)", "starred"),
        ("O = vmirror(vmirror(I))", "nested calls"),
        ("O = I.vmirror()", "attribute access"),
        ("x1 = vmirror(I)\nif x1:\n    O = x1", "line 2: only assignments"),
        ("O = vmirror(I)\n" * (MAX_STATEMENTS + 1), "statements exceed"),
        ("O = vmirror(I)" + " " * MAX_CHARS, "characters exceeds"),
    ],
)
def test_parser_rejects(source: str, message: str) -> None:
    with pytest.raises(ProgramSyntaxError, match=message):
        parse(source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("O = vmirror(I, I)", "line 1: vmirror takes 1 arguments, got 2"),
        ("x1 = size(I)\nO = vmirror(x1)", r"line 1: argument 1 of size \(I\) has type Grid"),
        ("x1 = width(I)\nO = vmirror(x1)", r"line 2: argument 1 of vmirror \(x1\) has type Int"),
        ("O = fill(I, 12, I)", r"argument 2 of fill \(12\) has type Int, expected Color"),
        ("O = fill(I, TRUE, I)", "has type Bool, expected Color"),
        ("x1 = objects(I, TRUE, TRUE, TRUE)\nO = argmax(x1, vmirror)", "argument 2 of argmax"),
        ("x1 = objects(I, TRUE, TRUE, TRUE)\nO = first(x1)", "O must be a Grid, got Object"),
        ("O = width(I)", "O must be a Grid, got Int"),
        ("O = rbind(upscale, 2)", "O must be a Grid"),
    ],
)
def test_type_errors(source: str, message: str) -> None:
    with pytest.raises(ProgramTypeError, match=message):
        check_types(parse(source))


def test_infer_types() -> None:
    types = infer_types(parse(EXAMPLE))
    assert types == {"I": GRID, "x1": OBJECTS, "x2": OBJECT, "O": GRID}
    types = infer_types(parse("x1 = compose(size, palette)\nO = vmirror(I)\n"))
    assert types["x1"] == Fn((COLORED,), INT)


def test_typed_higher_order_programs() -> None:
    # generic primitives passed as values are instantiated per use
    check_types(
        parse(
            "x1 = objects(I, TRUE, FALSE, TRUE)\n"
            "x2 = rbind(shift, UP)\n"
            "x3 = mapply(x2, x1)\n"
            "x4 = fork(add, height, width)\n"
            "x5 = apply(x4, x1)\n"
            "x6 = rbind(colorcount, 5)\n"
            "x7 = argmax(x1, x6)\n"
            "x8 = paint(I, x3)\n"
            "O = fill(x8, RED, x7)\n"
        )
    )
    with pytest.raises(ProgramTypeError, match="argument 2 of paint"):
        check_types(parse("x1 = rbind(shift, UP)\nO = paint(I, x1)\n"))


@pytest.mark.parametrize("order", ["x1, x2", "x2, x1"])
def test_generic_slots_widen_colors_to_ints(order: str) -> None:
    # Colors then Ints (or the reverse) in the two slots of one type variable: both are Ints
    source = f"x1 = palette(I)\nx2 = interval(0, 3, 1)\nx3 = combine({order})\n"
    types = infer_types(parse(source + "O = vmirror(I)\n"))
    assert types["x3"] == INTS
    with pytest.raises(ProgramTypeError, match="argument 2 of fill"):
        check_types(parse(source + "x4 = first(x3)\nO = fill(I, x4, x1)\n"))


def test_program_is_immutable_and_comparable() -> None:
    program = parse(EXAMPLE)
    with pytest.raises(AttributeError):
        program.statements = ()  # type: ignore[misc]
    assert program == Program(program.statements) and program != parse("O = vmirror(I)")


def _one(target: str, function: str, *args: object) -> Assignment:
    return Assignment(target, function, tuple(args))


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        ((), "1 to 40 statements"),
        ((_one("x1", "vmirror", Var("I")),), "cannot assign 'x1' here"),
        ((_one("O", "vmirror", Var("I")), _one("x1", "vmirror", Var("I"))), "cannot assign 'O'"),
        ((_one("O", "nope", Var("I")),), "unknown primitive 'nope'"),
        ((_one("O", "vmirror", Var("x3")),), "is not an assigned variable"),
        ((_one("O", "fill", Var("I"), Const("PURPLE"), Var("I")),), "Const"),
        ((_one("O", "upscale", Var("I"), IntLit(10**100)),), "integer in -30..30"),
        ((_one("O", "apply", FuncRef("eval"), Var("I")),), "FuncRef"),
        ((_one("O", "vmirror", "I"),), "'I' is not"),
    ],
)
def test_programs_built_in_code_are_checked_like_parsed_ones(
    statements: tuple, message: str
) -> None:
    with pytest.raises(ProgramSyntaxError, match=message):
        check_types(Program(statements))
