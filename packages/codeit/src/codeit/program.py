"""The program language: straight-line assignments, each calling one DSL primitive.

    x1 = objects(I, TRUE, FALSE, TRUE)
    x2 = argmax(x1, size)
    O = subgrid(x2, I)

Program text comes from a language model, so it is untrusted: it is read with `ast.parse`
for its structure only (never compiled or executed) and everything outside this grammar is
rejected with a `ProgramSyntaxError` naming the line. `check_types` then checks every call
against the primitives' signatures, and bounds the size of every variable's type: composing a
generic function with itself doubles its type (`compose(x1, x1)`), so types, like values,
could otherwise grow exponentially with the program's length.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from codeit.dsl import CONSTANTS, GRID, PRIMITIVES, TypeMismatch, instantiate, unify
from codeit.dsl.types import COLOR, INT, Coll, Fn, Type, free_vars, resolve

MAX_STATEMENTS = 40
MAX_CHARS = 4000
MAX_LITERAL = 30
MAX_TYPE_PARTS = 64  # atoms, collections and functions in a variable's type (real ones: ~10)
INPUT, OUTPUT = "I", "O"
VARIABLE = re.compile(r"x[1-9][0-9]{0,2}")


class ProgramError(Exception):
    """A program could not be parsed, type-checked or run."""


class ProgramSyntaxError(ProgramError):
    """The text is not a program of the language."""


class ProgramTypeError(ProgramError):
    """A call's arguments do not fit the primitive's signature."""


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Const:
    name: str


@dataclass(frozen=True)
class IntLit:
    value: int


@dataclass(frozen=True)
class FuncRef:
    name: str


Arg = Var | Const | IntLit | FuncRef


@dataclass(frozen=True)
class Assignment:
    target: str
    function: str
    args: tuple[Arg, ...]

    def to_source(self) -> str:
        return f"{self.target} = {self.function}({', '.join(map(_arg_source, self.args))})"


@dataclass(frozen=True)
class Program:
    statements: tuple[Assignment, ...]

    def to_source(self) -> str:
        """Canonical text: one statement per line, `, ` between arguments, final newline."""
        return "".join(s.to_source() + "\n" for s in self.statements)

    def __len__(self) -> int:
        return len(self.statements)

    def renumbered(self) -> Program:
        """The same program with its variables named x1, x2, ... in order of assignment, so
        programs that differ only in naming compare (and hash) equal."""
        names = {s.target: f"x{k}" for k, s in enumerate(self.statements, start=1)}
        names[OUTPUT] = OUTPUT
        return Program(
            tuple(
                Assignment(
                    names[s.target],
                    s.function,
                    tuple(
                        Var(names.get(a.name, a.name)) if isinstance(a, Var) else a for a in s.args
                    ),
                )
                for s in self.statements
            )
        )


def _arg_source(arg: Arg) -> str:
    return str(arg.value) if isinstance(arg, IntLit) else arg.name


def _fail(line: int, message: str) -> ProgramSyntaxError:
    return ProgramSyntaxError(f"line {line}: {message}")


def _literal(node: ast.expr) -> int | None:
    """The value of an integer literal node (optionally negated), else None."""
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        sign, node = -1, node.operand
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return sign * node.value
    return None


def _describe(node: ast.AST) -> str:
    """A short name for a construct the grammar does not allow."""
    names = {
        ast.Attribute: "attribute access",
        ast.Subscript: "subscripts",
        ast.Lambda: "lambdas",
        ast.Call: "nested calls",
        ast.BinOp: "operators",
        ast.UnaryOp: "operators",
        ast.BoolOp: "operators",
        ast.Compare: "comparisons",
        ast.ListComp: "comprehensions",
        ast.SetComp: "comprehensions",
        ast.DictComp: "comprehensions",
        ast.GeneratorExp: "comprehensions",
        ast.Starred: "starred arguments",
        ast.Import: "imports",
        ast.ImportFrom: "imports",
    }
    if isinstance(node, ast.Constant):
        return f"{type(node.value).__name__} literals"
    return names.get(type(node), f"{type(node).__name__} expressions")


def _parse_arg(node: ast.expr, line: int, defined: set[str]) -> Arg:
    value = _literal(node)
    if value is not None:
        if abs(value) > MAX_LITERAL:
            raise _fail(line, f"integer literal {value} outside -{MAX_LITERAL}..{MAX_LITERAL}")
        return IntLit(value)
    if not isinstance(node, ast.Name):
        raise _fail(
            line, f"arguments must be names or small integers; {_describe(node)} are not allowed"
        )
    name = node.id
    if name in defined:
        return Var(name)
    if name in CONSTANTS:
        return Const(name)
    if name in PRIMITIVES:
        return FuncRef(name)
    if name == OUTPUT or VARIABLE.fullmatch(name):
        raise _fail(line, f"variable {name} is used before it is assigned")
    raise _fail(line, f"unknown name {name!r} (not a variable, constant or primitive)")


def _parse_statement(stmt: ast.stmt, defined: set[str]) -> Assignment:
    line = stmt.lineno
    if not isinstance(stmt, ast.Assign):
        raise _fail(
            line, f"only assignments `x = primitive(args)` are allowed, not {_describe(stmt)}"
        )
    if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
        raise _fail(line, "assign to exactly one variable name")
    target = stmt.targets[0].id
    if target != OUTPUT and not VARIABLE.fullmatch(target):
        raise _fail(line, f"cannot assign {target!r}: variables are x1, x2, ... and O")
    if target in defined:
        raise _fail(line, f"variable {target} is assigned twice")
    call = stmt.value
    if not isinstance(call, ast.Call):
        raise _fail(line, f"the right-hand side must be a primitive call, not {_describe(call)}")
    if not isinstance(call.func, ast.Name):
        raise _fail(line, f"call a primitive by name; {_describe(call.func)} are not allowed")
    function = call.func.id
    if function not in PRIMITIVES:
        raise _fail(line, f"unknown primitive {function!r}")
    if call.keywords:
        raise _fail(line, "keyword arguments are not allowed")
    return Assignment(target, function, tuple(_parse_arg(a, line, defined) for a in call.args))


def parse(source: str) -> Program:
    """Read program text into a `Program`, rejecting anything outside the grammar."""
    if not isinstance(source, str):
        raise ProgramSyntaxError(f"program must be text, got {type(source).__name__}")
    if len(source) > MAX_CHARS:
        raise ProgramSyntaxError(f"program of {len(source)} characters exceeds {MAX_CHARS}")
    if "__" in source:
        line = source[: source.index("__")].count("\n") + 1
        raise _fail(line, "dunder names are not allowed")
    try:
        module = ast.parse(source, mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        line = getattr(error, "lineno", None) or "?"
        raise ProgramSyntaxError(f"line {line}: not valid program text: {error}") from None
    if len(module.body) > MAX_STATEMENTS:
        raise ProgramSyntaxError(f"{len(module.body)} statements exceed {MAX_STATEMENTS}")
    defined = {INPUT}
    statements = []
    for stmt in module.body:
        if statements and statements[-1].target == OUTPUT:
            raise _fail(stmt.lineno, "O must be assigned by the last statement")
        statement = _parse_statement(stmt, defined)
        defined.add(statement.target)
        statements.append(statement)
    if not statements or statements[-1].target != OUTPUT:
        raise ProgramSyntaxError("the program must end by assigning the output grid O")
    return Program(tuple(statements))


def _arg_type(arg: Arg, env: dict[str, Type]) -> Type:
    if isinstance(arg, Var):
        return instantiate(env[arg.name])
    if isinstance(arg, Const):
        return CONSTANTS[arg.name][1]
    if isinstance(arg, IntLit):
        return COLOR if 0 <= arg.value <= 9 else INT
    return instantiate(PRIMITIVES[arg.name].type)


def _check_structure(program: Program) -> None:
    """The grammar's rules, for programs built in code rather than parsed (mutation)."""
    if not 1 <= len(program.statements) <= MAX_STATEMENTS:
        raise ProgramSyntaxError(f"a program has 1 to {MAX_STATEMENTS} statements")
    defined = {INPUT}
    for line, stmt in enumerate(program.statements, start=1):
        last = line == len(program.statements)
        if (stmt.target == OUTPUT) != last or not (last or VARIABLE.fullmatch(stmt.target)):
            raise _fail(line, f"cannot assign {stmt.target!r} here: x1, x2, ... then O last")
        if stmt.target in defined:
            raise _fail(line, f"variable {stmt.target} is assigned twice")
        if stmt.function not in PRIMITIVES:
            raise _fail(line, f"unknown primitive {stmt.function!r}")
        for arg in stmt.args:
            if isinstance(arg, IntLit):
                valid = type(arg.value) is int and abs(arg.value) <= MAX_LITERAL
            else:
                names = {Var: defined, Const: CONSTANTS, FuncRef: PRIMITIVES}.get(type(arg), ())
                valid = bool(names) and arg.name in names
            if not valid:
                raise _fail(
                    line,
                    f"{arg!r} is not an assigned variable, a constant, a primitive "
                    f"or an integer in -{MAX_LITERAL}..{MAX_LITERAL}",
                )
        defined.add(stmt.target)


def infer_types(program: Program) -> dict[str, Type]:
    """The type of the input and of every assigned variable. Raises ProgramTypeError, or
    ProgramSyntaxError for a `Program` built in code that breaks the grammar's rules."""
    _check_structure(program)
    env: dict[str, Type] = {INPUT: GRID}
    for line, stmt in enumerate(program.statements, start=1):
        prim = PRIMITIVES[stmt.function]
        if len(stmt.args) != prim.arity:
            raise ProgramTypeError(
                f"line {line}: {prim.name} takes {prim.arity} arguments, got {len(stmt.args)}"
            )
        signature = instantiate(prim.type)
        assert isinstance(signature, Fn)  # renaming type variables keeps a function type
        subst: dict = {}
        for k, (arg, param) in enumerate(zip(stmt.args, signature.params, strict=True), start=1):
            actual = _arg_type(arg, env)
            try:
                subst = unify(actual, param, subst)
            except TypeMismatch:
                raise ProgramTypeError(
                    f"line {line}: argument {k} of {prim.name} ({_arg_source(arg)}) has type "
                    f"{resolve(actual, subst)}, expected {resolve(param, subst)}"
                ) from None
        result = resolve(signature.ret, subst)
        if parts_exceed(result, MAX_TYPE_PARTS):
            raise ProgramTypeError(
                f"line {line}: the type of {stmt.target} has more than {MAX_TYPE_PARTS} parts"
            )
        env[stmt.target] = result
    output = env[OUTPUT]
    if free_vars(output) or output != GRID:
        raise ProgramTypeError(f"O must be a Grid, got {output}")
    return env


def parts_exceed(t: Type, limit: int) -> bool:
    """Whether type t has more than `limit` parts (counted until there are, never further)."""
    pending, parts = [t], 0
    while pending:
        parts += 1
        if parts > limit:
            return True
        t = pending.pop()
        if isinstance(t, Coll):
            pending.append(t.elem)
        elif isinstance(t, Fn):
            pending += [*t.params, t.ret]
    return False


def check_types(program: Program) -> None:
    """Raise ProgramTypeError unless every call fits its primitive and O is a Grid."""
    infer_types(program)
