"""softcot's problems served as a Benchmark; its Grade used as the training reward."""

from __future__ import annotations

from pathlib import Path

import torch

from reasonloop.rpc import BenchmarkClient, serve_benchmark
from softcot.benchmark import math_benchmark
from softcot.trainer import Trainer, problems_for


def test_remote_grade_is_the_training_reward(tmp_path: Path, tiny_config) -> None:
    config = tiny_config()
    problems = problems_for(config, "train")
    with serve_benchmark(math_benchmark(problems, "train-set"), port=0) as server:
        address = f"127.0.0.1:{server.port}"
        client = BenchmarkClient(address)
        task = client.task(problems[0].id)
        assert problems[0].question in task.prompt[-1]["content"]
        right = f"so it is \\boxed{{{problems[0].answer}}}"
        assert [
            g.passed for g in client.grade([(problems[0].id, right), (problems[0].id, "7x")])
        ] == [
            True,
            False,
        ]

        remote = Trainer(
            config.with_overrides(train={"reward": f"grpc://{address}"}), tmp_path / "run"
        )
        batch = remote._my_problems()
        texts = [
            [f"\\boxed{{{p.answer}}}", "\\boxed{-1}", f"The answer is \\boxed{{{p.answer}}}"]
            for p in batch
        ]
        expected = torch.tensor([[1.0, 0.0, 1.0]] * len(batch), dtype=torch.float64)
        assert torch.equal(remote.score(batch, texts), expected)
        record = remote.train_step()  # a real step whose rewards came over gRPC
        assert record.step == 1 and record.reward == 0.0
