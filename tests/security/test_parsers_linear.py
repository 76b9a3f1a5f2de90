r"""Answer parsers take model and client text, so they must run in linear time and bounded memory.

Issue 13, part 4: `\boxed{` repeated (28 KB took 10 s), `answer:` repeated (3 GB of candidate
substrings held at once), calendar `Monday` + spaces and `final answer` + spaces (28 KB took
16 s, freezing a whole server), plus the text checks' bullets, titles and JSON fences. Each
parser here gets each hostile input at two sizes, 10x apart, and must take less than 30x the
time on the larger one (a quadratic parser takes ~100x). The times are this thread's CPU time,
best of several runs, so other processes on a loaded machine do not count.
"""

from __future__ import annotations

import random
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from benchagents.benchmark import DatasetBenchmark
from benchagents.dataset import load_dataset_dir, write_dataset
from benchagents.domains import get_domain
from benchagents.domains.calendar.answer import MalformedAnswer, parse_answer
from benchagents.domains.text.constraints import TextConstraints, evaluate
from benchagents.domains.text.domain import TextDomain
from benchagents.instance import Instance
from codeit.benchmark import parse_grids
from codeit.program import ProgramSyntaxError, parse
from reasonloop.benchmarks import BenchmarkTask, ReferenceBenchmark
from reasonloop.rewards import ExactMatchReward, FormatReward, MathAnswerReward
from reasonloop.rewards.extraction import MAX_ANSWER_CHARS, extract_final_answer
from reasonloop.rpc import BenchmarkClient, serve_benchmark
from softcot.problems import reference_answer

SMALL = MAX_ANSWER_CHARS // 10  # both sizes are within the graders' cap: all of it is parsed
LARGE = MAX_ANSWER_CHARS
MAX_RATIO = 30.0
RUNS = 5


def hostile(unit: str, size: int, head: str = "", tail: str = "") -> str:
    """`head`, then `unit` repeated up to `size` characters in all, then `tail`."""
    return head + unit * ((size - len(head) - len(tail)) // len(unit)) + tail


# (name, inputs at a size): the shapes that were super-linear, and their neighbours
INPUTS: dict[str, Callable[[int], str]] = {
    "boxed open": lambda n: hostile("\\boxed{", n),
    "fbox space open": lambda n: hostile("\\fbox {", n),
    "boxed empty": lambda n: hostile("\\boxed{}", n),
    "boxed then braces": lambda n: hostile("{", n, head="\\boxed{"),
    "boxed then spaces": lambda n: hostile(" ", n, head="\\boxed"),
    "backslashes": lambda n: hostile("\\", n),
    "answer colon": lambda n: hostile("answer:", n),
    "answer is": lambda n: hostile("answer is ", n),
    "answer then spaces": lambda n: hostile(" ", n, head="answer"),
    "answer then stars": lambda n: hostile("*", n, head="answer"),
    "empty answers": lambda n: hostile("Answer: . ", n),
    "hashes": lambda n: hostile("####", n),
    "hash lines": lambda n: hostile("\n#### ", n),
    "Monday then spaces": lambda n: hostile(" ", n, head="Monday"),
    "final answer then spaces": lambda n: hostile(" ", n, head="final answer"),
    "final then spaces": lambda n: hostile(" ", n, head="final"),
    "day comma": lambda n: hostile("Monday , ", n),
    "final answer markers": lambda n: hostile("Final Answer:", n),
    "one slot repeated": lambda n: hostile("Monday 10:00-11:00\n", n),
    "newlines": lambda n: hostile("\n", n),
    "title open": lambda n: hostile("a", n, head="<<"),
    "fence and newlines": lambda n: hostile("\n", n, head="```", tail="x"),
    "nested json": lambda n: hostile("[", n),
    "bullet then spaces": lambda n: hostile(" ", n, head="-"),
    "sentences": lambda n: hostile("word. ", n),
    "digit rows": lambda n: hostile("1\n", n),
    "digit grids": lambda n: hostile("12\n\n", n),
}

ALL_TEXT_CONSTRAINTS = TextConstraints(
    include_keywords=["apple"],
    exclude_words=["pear"],
    min_words=1,
    max_words=5,
    num_sentences=2,
    keyword_frequency={"word": "word", "count": 2, "relation": "at least"},
    bullet_list=2,
    all_lowercase=True,
    end_phrase="bye",
    json_keys=["a"],
    title=True,
)


def calendar(text: str) -> object:
    try:
        return parse_answer(text)
    except MalformedAnswer as error:
        return error


def grids(text: str) -> object:
    try:
        return parse_grids(text)
    except ValueError as error:
        return error


def program(text: str) -> object:
    try:
        return parse(text.strip())  # what codeit's grader does with an answer
    except ProgramSyntaxError as error:
        return error


EXACT = ExactMatchReward()

PARSERS: dict[str, Callable[[str], object]] = {
    "extract_final_answer": extract_final_answer,
    "ExactMatchReward": lambda text: EXACT(["p"], [text], ["42"]),
    "softcot reference_answer": reference_answer,
    "benchagents calendar": calendar,
    "benchagents text checks": lambda text: evaluate(text, ALL_TEXT_CONSTRAINTS),
    "codeit grids": grids,
    "codeit program": program,
}


def cpu_time(parser: Callable[[str], object], text: str) -> float:
    best = float("inf")
    for _ in range(RUNS):
        start = time.thread_time()
        parser(text)
        best = min(best, time.thread_time() - start)
    return max(best, 1e-6)  # below the clock's resolution counts as 1 µs


@pytest.mark.parametrize("parser", list(PARSERS))
@pytest.mark.parametrize("shape", list(INPUTS))
def test_parsing_time_grows_linearly(parser: str, shape: str) -> None:
    parse = PARSERS[parser]
    small, large = INPUTS[shape](SMALL), INPUTS[shape](LARGE)
    assert len(large) <= MAX_ANSWER_CHARS
    ratio = cpu_time(parse, large) / cpu_time(parse, small)
    assert ratio < MAX_RATIO, f"{parser} on {shape!r}: 10x the input took {ratio:.0f}x the time"


def test_math_answer_units_pattern_is_linear() -> None:
    """The GSM8K unit stripper runs on every extracted math answer (in the reward's workers)."""
    from reasonloop.rewards.math_compare import _NUMBER_WITH_UNITS

    def units(text: str) -> object:
        return _NUMBER_WITH_UNITS.fullmatch(text)

    for head, unit in [("1 ", "ab"), ("1", " "), ("$ 1,", "1,"), ("1 ab", " .")]:
        small, large = head + unit * (SMALL // len(unit)), head + unit * (LARGE // len(unit))
        ratio = cpu_time(units, large + "!") / cpu_time(units, small + "!")
        assert ratio < MAX_RATIO, f"{head + unit!r}...: 10x the input took {ratio:.0f}x the time"


@pytest.mark.parametrize(
    ("parser", "text"),
    [
        ("extract_final_answer", "answer:" * 30_000),  # the 3.1 GB input
        ("extract_final_answer", "\\boxed{}" * 30_000),
        ("extract_final_answer", "\\boxed{" * 30_000),
        ("benchagents calendar", "Final Answer:" * 5_000),
        ("benchagents text checks", "a " * 30_000),
    ],
    ids=["answer colon", "boxed empty", "boxed open", "calendar markers", "text words"],
)
def test_parsing_memory_is_bounded(parser: str, text: str) -> None:
    tracemalloc.start()
    try:
        PARSERS[parser](text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, f"{parser} held {peak / 2**20:.1f} MB at once"


def test_answers_over_the_cap_are_refused_with_a_reason() -> None:
    """Never a silent 0: each grader says the answer was too long."""
    text = "x" * MAX_ANSWER_CHARS + "\\boxed{42}"
    reason = f"answer of {len(text)} characters is over the limit of {MAX_ANSWER_CHARS}"
    [math_result] = MathAnswerReward()(["p"], [text], ["42"])
    [exact_result] = EXACT(["p"], [text], ["42"])
    [format_result] = FormatReward("x")(["p"], [text], [""])
    for result in (math_result, exact_result, format_result):
        assert result.score == 0.0
        assert (result.details["outcome"], result.details["reason"]) == ("too long", reason)
    assert str(calendar(text)) == reason
    instance = Instance(
        id="t",
        prompt="Write.",
        params={},
        constraints=ALL_TEXT_CONSTRAINTS.model_dump(exclude_none=True),
    )
    refused = TextDomain().check(instance, text)
    assert [c.name for c in refused] == ALL_TEXT_CONSTRAINTS.names()
    assert all(not c.passed and c.detail == f"malformed answer: {reason}" for c in refused)


def test_a_hostile_calendar_answer_grades_over_grpc_like_a_plain_one(tmp_path: Path) -> None:
    """The answer that froze a calendar server for 35 s ("Monday" + spaces) now costs what
    any answer of its length costs, on a real server."""
    domain = get_domain("calendar")
    plan = domain.default_plan()
    rng = random.Random(0)
    instance = domain.generate(domain.sample_params(plan, rng), rng, "cal-0")
    path = write_dataset(tmp_path, plan, [instance], "calendar", {"generated": 1})
    with serve_benchmark(DatasetBenchmark(load_dataset_dir(path)), port=0) as running:
        client = BenchmarkClient(f"127.0.0.1:{running.port}")

        def grade_time(answer: str) -> float:
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                [grade] = client.grade([("cal-0", answer)], timeout_s=120)
                best = min(best, time.perf_counter() - start)
            assert not grade.passed and "malformed answer" in grade.checks[0].detail
            return best

        plain = grade_time("x" * MAX_ANSWER_CHARS)
        ratio = grade_time(hostile(" ", MAX_ANSWER_CHARS, head="Monday")) / plain
        client.close()
    assert ratio < MAX_RATIO, f"the hostile answer took {ratio:.0f}x a plain one"


def test_an_unjudged_math_answer_is_graded_0_with_its_outcome() -> None:
    """Over Grade a score must be in [0, 1]: a comparison that timed out twice is 0 there,
    and the check's detail says it timed out (it is not a wrong answer)."""
    benchmark = ReferenceBenchmark(
        "towers",
        [BenchmarkTask("t", "What is 1?")],
        {"t": "1"},
        reward=MathAnswerReward(timeout_s=0.5),
    )
    [grade] = benchmark.grade([("t", r"\boxed{9^{9^{9^{9}}}}")])
    assert (grade.score, grade.passed) == (0.0, False)
    assert "outcome=timeout" in grade.checks[0].detail
