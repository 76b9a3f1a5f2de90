"""The one scoring contract: a benchmark owns its tasks, their references and its grader.

Everything in reasonloop that scores an answer does it through `Benchmark.grade`, given
(task id, answer) pairs and returning one `GradeResult` per pair: evaluation (`evaluate`,
`eval_matrix`), softcot's RL reward and its mode matrix, the Benchmark gRPC service
(`reasonloop.rpc.serve_benchmark`) and its client (`reasonloop.rpc.BenchmarkClient`, which has
the same `tasks()` / `grade()`, so code written against an in-process benchmark runs unchanged
against a remote one). A caller never holds a reference answer: the task id says which task,
and the benchmark knows its reference and how to check it (as nanochat's `Task` does).

`GradeResult.score` in [0, 1] is what RL maximizes, `passed` is what pass@k counts, and
`judged` is False for an answer the grader could not judge (a math comparison that timed out
twice): its score is 0 on the wire, and an RL trainer leaves it out instead of reading it as a
wrong answer.

Answer checkers (`reasonloop.rewards`: math-verify equality, exact match, output format) compare
an answer with a reference; `ReferenceBenchmark` is the one adapter that turns such a checker
and a table of references into a benchmark. `arithmetic_benchmark()` is a small seeded
word-problem set the CLI uses as its embedded default.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol

from reasonloop import rewards
from reasonloop.jsonl import read_jsonl
from reasonloop.limits import MAX_CHAT_MESSAGES, MAX_PROMPT_CHARS, shown
from reasonloop.rewards import Reward
from reasonloop.sampling.params import Prompt


@dataclass(frozen=True)
class BenchmarkTask:
    """One task. The reference answer is not part of it: it stays with the grader."""

    id: str
    prompt: Prompt
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One named check of a grade (e.g. "answer", "format", "test 3")."""

    name: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class GradeResult:
    """`score` in [0, 1] is the RL reward; `passed` is what pass@k counts; `judged` is False
    when the grader could not judge the answer (then score is 0 and passed False)."""

    task_id: str
    score: float
    passed: bool
    checks: tuple[Check, ...] = ()
    judged: bool = True  # in-process only: the wire's Grade has no such field

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {self.score}")

    @property
    def reward(self) -> float:
        """`score` as an RL reward: NaN when the answer was not judged (left out, not a 0)."""
        return self.score if self.judged else math.nan


class TaskSource(Protocol):
    """The contract's two calls: a `Benchmark`, or a `BenchmarkClient` of a remote one."""

    def tasks(self) -> Sequence[BenchmarkTask]: ...

    def grade(self, submissions: Sequence[tuple[str, str]]) -> list[GradeResult]: ...


class Benchmark(ABC):
    """Subclass this: give `name`, `tasks()` and `grade_one()`; override `grade()` to batch.

    `grade` may be called from several server threads at once.
    """

    name: str = "benchmark"
    description: str = ""

    @abstractmethod
    def tasks(self) -> Sequence[BenchmarkTask]:
        """All tasks, in a stable order (the server pages through it)."""

    @abstractmethod
    def grade_one(self, task: BenchmarkTask, answer: str) -> GradeResult:
        """Grade one answer (usually a model's whole completion) to one task."""

    def grade(self, submissions: Sequence[tuple[str, str]]) -> list[GradeResult]:
        """Grade (task id, answer) pairs; unknown ids raise KeyError naming them."""
        return [self.grade_one(self.task(task_id), answer) for task_id, answer in submissions]

    def task(self, task_id: str) -> BenchmarkTask:
        try:
            return self._by_id[task_id]
        except KeyError:
            raise KeyError(f"no task with id {shown(task_id)}") from None

    @cached_property
    def _by_id(self) -> dict[str, BenchmarkTask]:
        by_id: dict[str, BenchmarkTask] = {}
        for task in self.tasks():
            if task.id in by_id:
                raise ValueError(f"benchmark {self.name!r} has task id {shown(task.id)} twice")
            by_id[task.id] = task
        return by_id


# Reward class names in `reasonloop.rewards`.
GRADERS: dict[str, str] = {"math": "MathAnswerReward", "exact": "ExactMatchReward"}


class ReferenceBenchmark(Benchmark):
    """Tasks with reference answers, graded by an answer checker (math-verify by default).

    The one adapter from the checkers' interface (`reasonloop.rewards.Reward`: prompts,
    completions and the references, a score per item) to the contract. A checker's score must
    be in [0, 1]; its NaN (not judged) becomes an unjudged grade of 0.
    """

    def __init__(
        self,
        name: str,
        tasks: Sequence[BenchmarkTask],
        references: Mapping[str, str],
        reward: Reward | None = None,
        description: str = "",
    ) -> None:
        missing = [t.id for t in tasks if t.id not in references]
        if missing:
            raise ValueError(f"tasks without a reference answer: {', '.join(missing[:5])}")
        self.name = name
        self.description = description
        self._tasks = list(tasks)
        self._references = dict(references)
        self._reward = reward if reward is not None else rewards.MathAnswerReward()
        _ = self._by_id  # an id used twice would share one reference: refused now

    def tasks(self) -> Sequence[BenchmarkTask]:
        return self._tasks

    def grade(self, submissions: Sequence[tuple[str, str]]) -> list[GradeResult]:
        tasks = [self.task(task_id) for task_id, _ in submissions]
        results = self._reward(
            [_prompt_text(t) for t in tasks],
            [answer for _, answer in submissions],
            [self._references[t.id] for t in tasks],
        )
        # A checker's NaN (an item it could not judge, e.g. a timeout) is an unjudged grade of
        # 0, as a Grade score must be in [0, 1]; the check's detail keeps the outcome.
        return [
            GradeResult(
                task_id=t.id,
                score=0.0 if math.isnan(r.score) else r.score,
                passed=r.score >= 1.0,
                checks=(Check("answer", r.score >= 1.0, _describe(r.details)),),
                judged=not math.isnan(r.score),
            )
            for t, r in zip(tasks, results, strict=True)
        ]

    def grade_one(self, task: BenchmarkTask, answer: str) -> GradeResult:
        return self.grade([(task.id, answer)])[0]

    @classmethod
    def from_jsonl(
        cls, path: str | Path, grader: str = "math", name: str | None = None
    ) -> ReferenceBenchmark:
        """One task a line: {"id"?, "prompt" | "question", "answer", "metadata"?}.

        `prompt` may be a string or a list of chat messages; ids default to the line number.
        A bad file is a ValueError of one line naming the file and the line: not a JSON
        object, a field of the wrong type, a prompt over the size limits (checked here, before
        anything tokenizes it), an id used twice (both lines named).
        """
        if grader not in GRADERS:
            raise ValueError(f"grader must be one of {', '.join(GRADERS)}, not {grader!r}")
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"task file not found: {path}")
        tasks, references, lines = [], {}, {}
        for number, record in read_jsonl(path):
            where = f"{path}:{number}"
            if not isinstance(record, dict):
                raise ValueError(f"{where}: expected a JSON object with prompt and answer")
            prompt = _task_prompt(record.get("prompt", record.get("question")), where)
            answer = record.get("answer")
            if not isinstance(answer, str | int | float) or isinstance(answer, bool):
                raise ValueError(f"{where}: answer must be text or a number")
            metadata = record.get("metadata", {})
            if not isinstance(metadata, dict):
                raise ValueError(f"{where}: metadata must be a JSON object")
            task_id = str(record.get("id", number))
            if task_id in lines:
                raise ValueError(
                    f"{where}: task id {shown(task_id)} is also on line {lines[task_id]}"
                )
            lines[task_id] = number
            metadata = {str(k): str(v) for k, v in metadata.items()}
            tasks.append(BenchmarkTask(task_id, prompt, metadata))
            references[task_id] = str(answer)
        if not tasks:
            raise ValueError(f"{path} holds no tasks")
        return cls(name or path.stem, tasks, references, getattr(rewards, GRADERS[grader])())


def _prompt_text(task: BenchmarkTask) -> str:
    """What a checker sees of `task`'s prompt: its text, or a chat's last message."""
    if isinstance(task.prompt, str):
        return task.prompt
    last = task.prompt[-1]
    if not isinstance(last, dict):
        raise ValueError(f"task {task.id}: a checker reads a text or chat prompt, not token ids")
    return last["content"]


def _task_prompt(value: object, where: str) -> Prompt:
    """A task file's prompt: non-empty text or chat messages, within the request limits."""
    if isinstance(value, list):
        if len(value) > MAX_CHAT_MESSAGES:
            raise ValueError(f"{where}: prompt has {len(value)} messages, over {MAX_CHAT_MESSAGES}")
        for message in value:
            if not isinstance(message, dict) or not all(
                isinstance(message.get(key), str) for key in ("role", "content")
            ):
                raise ValueError(f"{where}: prompt messages need a text role and content")
        chars = sum(len(message["content"]) for message in value)
    elif isinstance(value, str):
        chars = len(value)
    else:
        raise ValueError(f"{where}: no prompt (or question): text or chat messages expected")
    if not chars:
        raise ValueError(f"{where}: no prompt (or question)")
    if chars > MAX_PROMPT_CHARS:
        raise ValueError(f"{where}: prompt has {chars} characters, over {MAX_PROMPT_CHARS}")
    return value


def local_benchmark(tasks: str | Path | None, grader: str = "math") -> ReferenceBenchmark:
    """The built-in `arithmetic_benchmark()` (for None or "arithmetic"), or a tasks .jsonl
    file graded by `grader` (math or exact)."""
    if tasks is None or tasks == "arithmetic":
        return arithmetic_benchmark()
    return ReferenceBenchmark.from_jsonl(tasks, grader=grader)


ANSWER_FORMAT = "Give the final answer as \\boxed{N}."


def arithmetic_benchmark(size: int = 32, seed: int = 0) -> ReferenceBenchmark:
    """Seeded one- and two-step word problems with integer answers (math-verify graded)."""
    rng = random.Random(seed)
    items = ["pens", "apples", "books", "stamps", "marbles", "cards"]
    tasks, references = [], {}
    for i in range(size):
        item, a, b, c = rng.choice(items), rng.randint(2, 12), rng.randint(2, 9), rng.randint(1, 20)
        if i % 2 == 0:
            question = f"A box holds {a} {item}. How many {item} are in {b} boxes?"
            answer = a * b
        else:
            question = f"Sam has {a * b} {item} and gets {c} more. How many {item} does Sam have?"
            answer = a * b + c
        task_id = f"arith-{i:04d}"
        tasks.append(
            BenchmarkTask(
                task_id,
                [{"role": "user", "content": f"{question} {ANSWER_FORMAT}"}],
                {"steps": "1" if i % 2 == 0 else "2"},
            )
        )
        references[task_id] = str(answer)
    return ReferenceBenchmark(
        "arithmetic", tasks, references, description="seeded integer word problems"
    )


def _describe(details: Mapping[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in details.items())
