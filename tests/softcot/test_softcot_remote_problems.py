"""Training problems from a Benchmark server (`data.train = "grpc://HOST:PORT"`): asked with the
task's own prompt, scored by the server's Grade with the task id as the reference."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from reasonloop.benchmarks import BenchmarkTask, ReferenceBenchmark
from reasonloop.rewards import ExactMatchReward, FormatReward
from reasonloop.rpc import serve_benchmark
from softcot.config import load_config
from softcot.problems import load_problems
from softcot.prompts import chat_prompt
from softcot.trainer import Trainer

TASKS = [
    BenchmarkTask("capital", [{"role": "user", "content": "Capital of France?"}], {"kind": "geo"}),
    BenchmarkTask("colour", "Raw text: the colour of snow is"),
    BenchmarkTask(
        "sum",
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2 + 3?"},
        ],
    ),
]
ANSWERS = {"capital": "Paris", "colour": "white", "sum": "5"}


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    benchmark = ReferenceBenchmark("quiz", TASKS, ANSWERS, reward=ExactMatchReward())
    with serve_benchmark(benchmark, port=0) as server:
        yield f"grpc://127.0.0.1:{server.port}"


@pytest.fixture(scope="module")
def letters_address() -> Iterator[str]:
    """The same tasks, passed by an answer with a letter a-m in it: the tiny model writes one
    in some of its samples and not in others."""
    benchmark = ReferenceBenchmark("letters", TASKS, ANSWERS, reward=FormatReward("[a-m]"))
    with serve_benchmark(benchmark, port=0) as server:
        yield f"grpc://127.0.0.1:{server.port}"


def test_problems_are_the_served_tasks(address: str) -> None:
    problems = load_problems(address)
    assert [p.id for p in problems] == [p.answer for p in problems] == list(ANSWERS)
    assert [p.question for p in problems] == [
        "Capital of France?",
        "Raw text: the colour of snow is",
        "What is 2 + 3?",
    ]
    assert [chat_prompt(p) for p in problems] == [t.prompt for t in TASKS]  # asked as posed
    assert problems[0].family == "quiz" and problems[0].metadata == {"kind": "geo"}
    assert [p.id for p in load_problems(address, limit=2)] == ["capital", "colour"]


def test_unreachable_server_is_one_line() -> None:
    with pytest.raises(ValueError, match=r"^could not list the tasks of grpc://127\.0\.0\.1:1: "):
        load_problems("grpc://127.0.0.1:1")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[data]\ntrain = "grpc://h:1"\n',
            r"run\.toml: train: data\.train is a Benchmark server: train\.reward must be its "
            r"grpc:// address$",
        ),
        (
            '[data]\ntest = "grpc://h:1"\n',
            r"run\.toml: data\.test: evaluate a Benchmark server's tasks with `reasonloop eval",
        ),
    ],
)
def test_config_needs_the_server_to_grade(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "run.toml"
    path.write_text(toml)
    with pytest.raises(ValueError, match=message):
        load_config(path)


def test_trainer_asks_the_tasks_and_the_server_grades(
    address: str, tmp_path: Path, tiny_config
) -> None:
    config = tiny_config(prompts_per_step=3, reward=address).with_overrides(data={"train": address})
    trainer = Trainer(config, tmp_path / "run")
    assert [p.id for p in trainer.problems] == list(ANSWERS)
    texts = [[ANSWERS[p.id], "no idea", f"It is {ANSWERS[p.id]}"] for p in trainer.problems]
    expected = torch.tensor([[1.0, 0.0, 0.0]] * 3, dtype=torch.float64)
    assert torch.equal(trainer.score(trainer.problems, texts), expected)


def test_a_training_step_learns_from_the_servers_grades(
    letters_address: str, tmp_path: Path, tiny_config
) -> None:
    config = tiny_config(prompts_per_step=3, reward=letters_address)
    trainer = Trainer(config.with_overrides(data={"train": letters_address}), tmp_path / "run")
    record = trainer.train_step()  # sampled from the tasks' own prompts, graded remotely
    assert record.step == 1 and record.reward_timeouts == 0
    assert 0 < record.reward < 1  # the server passed some samples and failed others
    assert record.grad_norm > 0  # so the step had advantages to learn from
