"""Answer parsers on the hostile inputs of issue 13 (part 4): time at two sizes 10x apart, the
ratio (about 10 when linear, about 100 when quadratic), and the peak memory of extracting
`"answer:" * 30000` (the input that took a grader from 126 MB to 3.1 GB).

Times are this thread's CPU time, the best of `--runs`, so a busy machine changes them little.

    uv run python bench/parsers.py
    uv run python bench/parsers.py --runs 20
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable

from benchagents.domains.calendar.answer import MalformedAnswer, parse_answer
from benchagents.domains.text.constraints import TextConstraints, evaluate
from reasonloop.rewards.extraction import MAX_ANSWER_CHARS, extract_final_answer

TEXT_CHECKS = TextConstraints(bullet_list=2, title=True, json_keys=["a"], num_sentences=1)


def calendar(text: str) -> object:
    try:
        return parse_answer(text)
    except MalformedAnswer as error:
        return error


CASES: list[tuple[str, Callable[[str], object], Callable[[int], str]]] = [
    ("math: \\boxed{ repeated", extract_final_answer, lambda n: "\\boxed{" * (n // 7)),
    ("math: answer: repeated", extract_final_answer, lambda n: "answer:" * (n // 7)),
    ("calendar: Monday + spaces", calendar, lambda n: "Monday" + " " * (n - 6)),
    ("calendar: final answer + spaces", calendar, lambda n: "final answer" + " " * (n - 12)),
    ("text: newlines (bullets)", lambda t: evaluate(t, TEXT_CHECKS), lambda n: "\n" * n),
    ("text: << + letters (title)", lambda t: evaluate(t, TEXT_CHECKS), lambda n: "<<" + "a" * n),
    (
        "text: ``` + newlines (json)",
        lambda t: evaluate(t, TEXT_CHECKS),
        lambda n: "```" + "\n" * (n - 4) + "x",
    ),
]


def cpu_seconds(parse: Callable[[str], object], text: str, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.thread_time()
        parse(text)
        best = min(best, time.thread_time() - start)
    return max(best, 1e-6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    small, large = MAX_ANSWER_CHARS // 10, MAX_ANSWER_CHARS
    print(f"{'input':34s} {small:>9,d} ch {large:>9,d} ch  ratio")
    for name, parse, make in CASES:
        t_small = cpu_seconds(parse, make(small), args.runs)
        t_large = cpu_seconds(parse, make(large), args.runs)
        ratio = t_large / t_small
        print(f"{name:34s} {t_small * 1e3:9.2f} ms {t_large * 1e3:9.2f} ms {ratio:5.1f}x")
    text = "answer:" * 30_000
    tracemalloc.start()
    extract_final_answer(text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f'extract_final_answer("answer:" * 30000): peak {peak / 2**20:.2f} MB of Python memory')


if __name__ == "__main__":
    main()
