"""softcot's problems: the built-in procedural families and the file / hub loaders."""

from __future__ import annotations

import ast
import json
import re
import sys
import types
from collections import Counter
from pathlib import Path

import pytest

from softcot.problems import LEVELS, load_problems, procedural_problems, reference_answer

ALL_LEVELS = tuple(LEVELS)


def evaluate(expression: str) -> int:
    """An independent evaluator for the stored expressions: ints with + - * % only."""
    ops = {ast.Add: int.__add__, ast.Sub: int.__sub__, ast.Mult: int.__mul__, ast.Mod: int.__mod__}

    def value(node: ast.expr) -> int:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        assert isinstance(node, ast.BinOp) and type(node.op) in ops, ast.dump(node)
        return ops[type(node.op)](value(node.left), value(node.right))

    return value(ast.parse(expression, mode="eval").body)


def operations(expression: str) -> list[str]:
    return [
        type(node.op).__name__
        for node in ast.walk(ast.parse(expression))
        if isinstance(node, ast.BinOp)
    ]


def write_jsonl(path: Path, lines: list[object | str]) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return path


# --- procedural problems ----------------------------------------------------------------------


@pytest.mark.parametrize("family", ["arith", "ood"])
def test_same_seed_same_problems_and_shorter_is_a_prefix(family):
    first = procedural_problems("train", 60, ALL_LEVELS, seed=3, family=family)
    assert first == procedural_problems("train", 60, ALL_LEVELS, seed=3, family=family)
    assert procedural_problems("train", 25, ALL_LEVELS, seed=3, family=family) == first[:25]
    other = procedural_problems("train", 60, ALL_LEVELS, seed=4, family=family)
    assert [p.question for p in other] != [p.question for p in first]


@pytest.mark.parametrize("family", ["arith", "ood"])
def test_train_and_test_are_disjoint_whatever_the_seeds(family):
    train = procedural_problems("train", 500, ALL_LEVELS, seed=0, family=family)
    test = procedural_problems("test", 300, ALL_LEVELS, seed=1, family=family)
    train_questions = {p.question for p in train}
    assert len(train_questions) == len(train)  # no repeats within a split either
    assert len({p.question for p in test}) == len(test)
    assert not train_questions & {p.question for p in test}
    # Disjoint in the arithmetic too, not only in names and objects.
    arithmetic = [
        {(p.metadata["template"], p.metadata["expression"]) for p in ps} for ps in (train, test)
    ]
    assert not arithmetic[0] & arithmetic[1]


def test_levels_are_taken_in_turn_and_ids_say_so():
    problems = procedural_problems("test", 30, levels=(0, 2, 4))
    assert [p.level for p in problems] == [0, 2, 4] * 10
    assert Counter(p.level for p in problems) == {0: 10, 2: 10, 4: 10}
    assert problems[7].id == "arith-test-L2-000007"
    assert all(re.fullmatch(r"arith-test-L[024]-\d{6}", p.id) for p in problems)
    assert {p.family for p in problems} == {"arith"}
    ood = procedural_problems("train", 4, levels=(1,), family="ood")
    assert [p.id for p in ood] == [f"ood-train-L1-{i:06d}" for i in range(4)]


@pytest.mark.parametrize("family", ["arith", "ood"])
def test_answers_are_the_stated_arithmetic(family):
    for problem in procedural_problems("train", 400, ALL_LEVELS, seed=7, family=family):
        expression = problem.metadata["expression"]
        assert problem.answer == str(evaluate(expression)), problem
        assert int(problem.answer) >= 0
        # Every number the question mentions is one the arithmetic uses.
        assert set(re.findall(r"\d+", problem.question)) <= set(re.findall(r"\d+", expression))


def test_arith_levels_have_the_documented_steps_and_sizes():
    for problem in procedural_problems("train", 500, ALL_LEVELS, seed=2):
        ops = operations(problem.metadata["expression"])
        numbers = [int(n) for n in re.findall(r"\d+", problem.metadata["expression"])]
        if problem.level == 0:
            assert ops == ["Add"] and max(numbers) <= 10
        elif problem.level == 1:
            assert len(ops) == 1 and ops[0] in ("Add", "Sub") and max(numbers) <= 20
        elif problem.level == 2:
            one_product = ops == ["Mult"] and max(numbers) <= 10
            two_sums = len(ops) == 2 and set(ops) <= {"Add", "Sub"} and max(numbers) <= 20
            assert one_product or two_sums
        elif problem.level == 3:
            assert len(ops) == 2 and "Mult" in ops and max(numbers) <= 50
        else:
            assert len(ops) == 3 and max(numbers) <= 100


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="levels"):
        procedural_problems("train", 5, levels=(9,))
    with pytest.raises(ValueError, match="levels"):
        procedural_problems("train", 5, levels=())
    with pytest.raises(ValueError, match="split"):
        procedural_problems("dev", 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="family"):
        procedural_problems("train", 5, family="geometry")  # type: ignore[arg-type]
    assert procedural_problems("train", 0) == []


# --- load_problems: built-ins -----------------------------------------------------------------


def test_builtin_sources():
    assert load_problems("builtin:arith?levels=0,3&count=6", split="train") == (
        procedural_problems("train", 6, levels=(0, 3))
    )
    assert load_problems("builtin:ood", limit=5, seed=2) == procedural_problems(
        "test", 5, seed=2, family="ood"
    )
    assert len(load_problems("builtin:arith?count=8", limit=3)) == 3


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("builtin:arith?level=1", "unknown parameter 'level'"),
        ("builtin:arith?levels=one", "invalid literal"),
        ("builtin:arith?levels=7", "levels must be"),
        ("builtin:algebra", "unknown built-in family 'algebra'"),
        ("builtin:arith?count=1000000000", "count must be in 0..100000, got 1000000000"),
        ("builtin:carry?count=1000000000", "count must be in 0..100000, got 1000000000"),
        ("gsm8k", "unknown problem source 'gsm8k'"),
        ("s3://bucket/x.json", "unknown problem source"),
    ],
)
def test_bad_sources_say_what_is_wrong(source, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        load_problems(source)


# --- load_problems: files ---------------------------------------------------------------------


def test_reference_answers_gsm8k_math_and_plain():
    assert reference_answer("She pays 2 * 617 = 1234 dollars.\n#### 1,234") == "1234"
    assert reference_answer("So it is $\\boxed{\\frac{1}{2}}$.") == "\\frac{1}{2}"
    assert reference_answer("\\boxed{2} first, then \\boxed{\\sqrt{x^{2}}}") == "\\sqrt{x^{2}}"
    assert reference_answer("  42 \n") == "42"
    # core's box reader: \fbox too, and escaped braces do not close the box
    assert reference_answer(r"so \fbox{\{1, 2\}} it is") == r"\{1, 2\}"


def test_gsm8k_jsonl(tmp_path):
    path = write_jsonl(
        tmp_path / "gsm8k.jsonl",
        [
            {"question": "Ann has 3 cats and gets 2. How many?", "answer": "3 + 2 = 5\n#### 5"},
            "",
            {"question": "Big sum?", "answer": "Lots.\n#### 12,000", "id": 77},
        ],
    )
    problems = load_problems(str(path))
    assert [(p.id, p.answer, p.family) for p in problems] == [
        ("gsm8k-1", "5", "gsm8k"),
        ("77", "12000", "gsm8k"),
    ]
    assert problems[0].question == "Ann has 3 cats and gets 2. How many?"
    assert len(load_problems(str(path), limit=1)) == 1


def test_math_style_and_custom_fields(tmp_path):
    math = write_jsonl(
        tmp_path / "math.jsonl",
        [{"problem": "Half of one?", "solution": "It is $\\boxed{\\frac{1}{2}}$."}],
    )
    assert load_problems(str(math))[0].answer == "\\frac{1}{2}"
    custom = write_jsonl(tmp_path / "custom.jsonl", [{"q": "2 + 2?", "a": 4}])
    (problem,) = load_problems(str(custom), question_field="q", answer_field="a")
    assert (problem.id, problem.question, problem.answer) == ("custom-1", "2 + 2?", "4")


def test_file_errors_name_the_file_and_line(tmp_path):
    bad_json = write_jsonl(tmp_path / "bad.jsonl", [{"question": "q", "answer": "1"}, "{oops"])
    with pytest.raises(ValueError, match=rf"^{re.escape(str(bad_json))}:2: invalid JSON"):
        load_problems(str(bad_json))
    missing = write_jsonl(tmp_path / "missing.jsonl", ["", {"question": "q"}])
    with pytest.raises(ValueError, match=rf"{re.escape(str(missing))}:2: no non-empty 'answer'"):
        load_problems(str(missing))
    not_object = write_jsonl(tmp_path / "list.jsonl", [[1, 2]])
    with pytest.raises(ValueError, match=r"list.jsonl:1: expected a JSON object"):
        load_problems(str(not_object))
    empty_answer = write_jsonl(tmp_path / "hashes.jsonl", [{"question": "q", "answer": "#### "}])
    with pytest.raises(ValueError, match=r"hashes.jsonl:1: the answer is empty"):
        load_problems(str(empty_answer))
    empty = write_jsonl(tmp_path / "empty.jsonl", ["", "  "])
    with pytest.raises(ValueError, match=r"empty.jsonl has no problems"):
        load_problems(str(empty))
    with pytest.raises(ValueError, match=r"absent.jsonl not found"):
        load_problems(str(tmp_path / "absent.jsonl"))
    for error in (bad_json, missing):
        with pytest.raises(ValueError) as info:
            load_problems(str(error))
        assert "\n" not in str(info.value)


# --- load_problems: hub datasets --------------------------------------------------------------


def test_hub_datasets_are_loaded_lazily(monkeypatch):
    calls = []

    def load_dataset(name, config, split):
        calls.append((name, config, split))
        return [
            {"question": "One plus one?", "answer": "1 + 1\n#### 2"},
            {"problem": "Two?", "solution": "\\boxed{2}", "id": "p2"},
        ]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    problems = load_problems("hf:openai/gsm8k:main", split="train")
    assert calls == [("openai/gsm8k", "main", "train")]
    assert [(p.id, p.answer, p.family) for p in problems] == [
        ("openai/gsm8k-0", "2", "openai/gsm8k"),
        ("p2", "2", "openai/gsm8k"),
    ]
    load_problems("hf:some/math", limit=1)
    assert calls[-1] == ("some/math", None, "test")


def test_hub_errors(monkeypatch):
    def offline(name, config, split):
        raise ConnectionError("Couldn't reach the Hugging Face Hub\nmore detail")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    with pytest.raises(ValueError, match=r"^could not load hub dataset 'x/y' \(test\): Couldn't"):
        load_problems("hf:x/y")
    monkeypatch.setitem(sys.modules, "datasets", None)  # `import datasets` now fails
    with pytest.raises(ValueError, match=re.escape("pip install reasonloop-softcot[hub]")):
        load_problems("hf:x/y")
