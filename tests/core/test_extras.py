"""A module whose extra is missing fails on import with one line naming the pip command."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import reasonloop
from reasonloop.extras import MissingExtraError, requires


def test_a_missing_module_names_its_extra() -> None:
    with pytest.raises(MissingExtraError) as caught, requires("plot"):
        import reasonloop_no_such_module.sub  # noqa: F401

    assert str(caught.value) == (
        "reasonloop_no_such_module is not installed; it comes with the 'plot' extra: "
        "pip install 'reasonloop-core[plot]'"
    )
    assert isinstance(caught.value, ImportError)  # `except ImportError` still catches it


@pytest.mark.parametrize(
    ("blocked", "module", "extra"),
    [
        # a library only worker processes import is checked where the workers are set up
        ("math_verify", "reasonloop.rewards; reasonloop.rewards.MathAnswerReward()", "math"),
        ("torch", "reasonloop.sampling.decoder", "models"),
        ("torch", "reasonloop.models.loading", "models"),
        ("torch", "reasonloop.rpc.engine", "models"),
        ("fastapi", "reasonloop.rpc.openai_http", "http"),
        ("math_verify", "reasonloop.rewards.math_compare", "math"),
    ],
)
def test_importing_without_the_extra_says_what_to_install(
    blocked: str, module: str, extra: str
) -> None:
    # None in sys.modules makes `import blocked` fail as if it were not installed
    code = f"import sys; sys.modules[{blocked!r}] = None; import {module}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        f"reasonloop.extras.MissingExtraError: {blocked} is not installed; it comes with the "
        f"{extra!r} extra: pip install 'reasonloop-core[{extra}]'"
    )


# The libraries of each extra, by import name (ray has its own hint: sandbox.ray_pool).
EXTRA_OF = {
    "torch": "models",
    "transformers": "models",
    "tokenizers": "models",
    "peft": "models",
    "safetensors": "models",
    "gguf": "models",
    "xgrammar": "grammar",
    "math_verify": "math",
    "matplotlib": "plot",
    "fastapi": "http",
    "uvicorn": "http",
    "starlette": "http",
    "anyio": "http",
}


def _guard(node: ast.AST) -> str | None:
    """The extra of a `with requires("extra"):` block (or the CLIs' `needs_extra`), None for
    any other node."""
    if isinstance(node, ast.With) and len(node.items) == 1:
        call = node.items[0].context_expr
        guards = ("requires", "needs_extra")
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) in guards:
            return call.args[0].value if isinstance(call.args[0], ast.Constant) else None
    return None


def _unguarded(tree: ast.Module) -> list[str]:
    """Imports of an extra's library that are neither typing-only nor inside `requires` of
    that extra or, for a function's import, of a module-level block of that extra."""
    module_extras = {_guard(node) for node in tree.body} - {None}
    found = []

    def visit(node: ast.AST, guards: tuple[str, ...], in_function: bool) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            for name in names:
                extra = EXTRA_OF.get((name or "").partition(".")[0])
                covered = extra in guards or (in_function and extra in module_extras)
                if extra and not covered:
                    found.append(f"line {node.lineno}: {name} (extra {extra})")
        extra = _guard(node)
        inner = (*guards, extra) if extra else guards
        function = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, inner, function)

    visit(tree, (), False)
    return found


def test_every_core_import_of_an_extra_is_inside_requires() -> None:
    root = Path(reasonloop.__file__).parent
    unguarded = {
        str(path.relative_to(root)): found
        for path in sorted(root.rglob("*.py"))
        if "v1" not in path.parts and (found := _unguarded(ast.parse(path.read_text())))
    }
    assert unguarded == {}


def test_the_import_check_finds_an_unguarded_import() -> None:
    source = (
        "import torch\n"
        "with requires('math'):\n    import fastapi\n"
        "with requires('models'):\n    import transformers\n"
        "def f():\n    import peft\n    import matplotlib\n"
    )
    assert _unguarded(ast.parse(source)) == [
        "line 1: torch (extra models)",
        "line 3: fastapi (extra http)",
        "line 8: matplotlib (extra plot)",
    ]


@pytest.mark.slow  # each loads tiny-llama in a fresh interpreter
@pytest.mark.parametrize(
    ("blocked", "arguments", "extra"),
    [
        (
            "fastapi",
            ["serve", "--model", "tiny-llama", "--port", "0", "--openai-port", "0"],
            "http",
        ),
        (
            "xgrammar",
            ["generate", "--model", "tiny-llama", "--prompt", "hi", "--regex", "[0-9]+"],
            "grammar",
        ),
    ],
)
def test_a_command_missing_an_extra_says_so_in_one_line(
    blocked: str, arguments: list[str], extra: str
) -> None:
    code = (
        f"import sys; sys.modules[{blocked!r}] = None; sys.argv = ['reasonloop', *{arguments!r}]\n"
        "from reasonloop.cli import app; app()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stderr) == (
        2,
        f"error: {blocked} is not installed; it comes with the {extra!r} extra: "
        f"pip install 'reasonloop-core[{extra}]'\n",
    )
