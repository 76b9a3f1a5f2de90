"""Problems from a Benchmark server: its tasks, asked with their own prompts (`grpc://HOST:PORT`).

The reference answer of each is the task id, so only that server's `Grade` can score them
(`train.reward` set to the same address).
"""

from __future__ import annotations

from collections.abc import Mapping

from reasonloop.sampling import Prompt
from softcot.prompts import MathProblem

REMOTE_SCHEME = "grpc://"
REMOTE_TIMEOUT_S = 60.0  # listing a Benchmark server's tasks


def _prompt_text(prompt: Prompt) -> str:
    """A prompt's text as a question (the last message of a chat); token ids have none."""
    if isinstance(prompt, str):
        return prompt
    last = prompt[-1] if prompt else None
    return last["content"] if isinstance(last, Mapping) else ""


def remote_problems(address: str, limit: int | None = None) -> list[MathProblem]:
    """The tasks of the Benchmark server at `address` (grpc://HOST:PORT) as problems.

    Each keeps its task's prompt and metadata; its answer is the task id, which is what the
    server's `Grade` takes (the trainer grades with that server: `softcot.trainer.make_grader`).
    """
    import grpc

    from reasonloop.rpc import BenchmarkClient, Connection

    try:
        with BenchmarkClient(Connection(address, timeout_s=REMOTE_TIMEOUT_S)) as client:
            name, tasks = client.name, client.tasks()[:limit]
    except grpc.RpcError as exc:
        raise ValueError(
            f"could not list the tasks of {address}: {exc.code().name}: {exc.details()}"
        ) from None
    if not tasks and limit != 0:
        raise ValueError(f"the benchmark at {address} has no tasks")
    return [
        MathProblem(
            t.id,
            _prompt_text(t.prompt),
            t.id,
            family=name,
            metadata=dict(t.metadata),
            prompt=t.prompt,
        )
        for t in tasks
    ]
