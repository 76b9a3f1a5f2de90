"""Python clients of both services, blocking and asyncio.

A client takes one address or several (stateless replicas): with several, calls are spread
round robin. UNAVAILABLE is retried with backoff by gRPC itself (service config), so a
replica that restarts costs a retry, not a failed run. Every call has a deadline.

Clients speak the core's types: prompts are strings or chat messages, parameters are
`SamplingParams`, tasks and grades are `BenchmarkTask` / `GradeResult`. So code written
against an in-process `Benchmark` runs unchanged against a remote one.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import grpc
import grpc.aio

from reasonloop.benchmarks import BenchmarkTask, GradeResult
from reasonloop.rpc import convert
from reasonloop.sampling.params import Prompt, SamplingParams
from reasonloop.v1 import benchmark_pb2, benchmark_pb2_grpc, inference_pb2, inference_pb2_grpc

MAX_MESSAGE_BYTES = 64 * 2**20

SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [
        {
            "name": [
                {"service": convert.INFERENCE_SERVICE.full_name},
                {"service": convert.BENCHMARK_SERVICE.full_name},
            ],
            "retryPolicy": {
                "maxAttempts": 5,
                "initialBackoff": "0.2s",
                "maxBackoff": "5s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
}


def channel_target(addresses: str | Sequence[str]) -> str:
    """A gRPC target for one or several `host:port` (or `grpc://host:port`) addresses.

    Several addresses become one `ipv4:`/`ipv6:` target list (names resolved here), which
    the round-robin policy spreads calls over.
    """
    items = [addresses] if isinstance(addresses, str) else list(addresses)
    items = [a.strip().removeprefix("grpc://").rstrip("/") for a in items]
    if not items or not all(items):
        raise ValueError("at least one server address (host:port) is needed")
    if len(items) == 1:
        return items[0]
    resolved = [_resolve(a) for a in items]
    families = {"ipv6" if r.startswith("[") else "ipv4" for r in resolved}
    if len(families) > 1:
        raise ValueError("mixing IPv4 and IPv6 server addresses is not supported")
    return f"{families.pop()}:{','.join(resolved)}"


def _resolve(address: str) -> str:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"server address must be host:port, got {address!r}")
    host = host.strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        try:
            ip = ipaddress.ip_address(socket.getaddrinfo(host, int(port))[0][4][0])
        except socket.gaierror as error:
            raise ValueError(f"cannot resolve {host!r}: {error}") from None
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


@dataclass(frozen=True)
class Connection:
    """How to reach a service: addresses, optional bearer token and TLS root certificate."""

    addresses: str | Sequence[str]
    auth_token: str | None = None
    tls_root_cert: Path | None = None  # PEM; with it the channel uses TLS
    timeout_s: float = 600.0  # per-call deadline unless a call says otherwise

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.auth_token}"),) if self.auth_token else ()

    def channel_args(self) -> tuple[str, list[tuple[str, Any]], grpc.ChannelCredentials | None]:
        options = [
            ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
            ("grpc.enable_retries", 1),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        credentials = None
        if self.tls_root_cert is not None:
            credentials = grpc.ssl_channel_credentials(Path(self.tls_root_cert).read_bytes())
        return channel_target(self.addresses), options, credentials

    def channel(self) -> grpc.Channel:
        target, options, credentials = self.channel_args()
        if credentials is None:
            return grpc.insecure_channel(target, options)
        return grpc.secure_channel(target, credentials, options)

    def aio_channel(self) -> grpc.aio.Channel:
        target, options, credentials = self.channel_args()
        if credentials is None:
            return grpc.aio.insecure_channel(target, options)
        return grpc.aio.secure_channel(target, credentials, options)


def group_by_prompt(
    completions: Sequence[inference_pb2.Completion], prompt_count: int
) -> list[list[inference_pb2.Completion]]:
    groups: list[list[inference_pb2.Completion]] = [[] for _ in range(prompt_count)]
    for c in completions:
        groups[c.prompt_index].append(c)
    return groups


class _Client:
    def __init__(self, connection: Connection | str | Sequence[str]) -> None:
        self.connection = (
            connection if isinstance(connection, Connection) else Connection(connection)
        )

    def _call_options(self, timeout_s: float | None) -> dict[str, Any]:
        timeout = self.connection.timeout_s if timeout_s is None else timeout_s
        return {"timeout": timeout, "metadata": self.connection.metadata}


class _BlockingClient(_Client):
    def __init__(self, connection: Connection | str | Sequence[str]) -> None:
        super().__init__(connection)
        self._channel = self.connection.channel()

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _AsyncClient(_Client):
    def __init__(self, connection: Connection | str | Sequence[str]) -> None:
        super().__init__(connection)
        self._channel = self.connection.aio_channel()

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class InferenceClient(_BlockingClient):
    """Blocking client of the Inference service."""

    def __init__(self, connection: Connection | str | Sequence[str]) -> None:
        super().__init__(connection)
        self._stub = inference_pb2_grpc.InferenceServiceStub(self._channel)

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | None = None,
        *,
        timeout_s: float | None = None,
    ) -> list[list[inference_pb2.Completion]]:
        """Per prompt, its n completions (in sample order)."""
        response = self.generate_response(prompts, params, timeout_s=timeout_s)
        return group_by_prompt(response.completions, len(prompts))

    def generate_response(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | None = None,
        *,
        timeout_s: float | None = None,
    ) -> inference_pb2.GenerateResponse:
        """The whole response: completions, token usage, and the name of the model (replica)
        that answered."""
        request = convert.generate_request(inference_pb2.GenerateRequest, prompts, params)
        return self._stub.Generate(request, **self._call_options(timeout_s))

    def stream(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | None = None,
        *,
        timeout_s: float | None = None,
    ) -> Iterator[inference_pb2.GenerateStreamResponse]:
        """Text deltas as decoded; the call is cancelled if the iterator is closed early."""
        request = convert.generate_request(inference_pb2.GenerateStreamRequest, prompts, params)
        call = self._stub.GenerateStream(request, **self._call_options(timeout_s))
        try:
            yield from call
        finally:
            call.cancel()

    def score(
        self,
        items: Sequence[tuple[Prompt, str]],
        temperature: float = 1.0,
        *,
        timeout_s: float | None = None,
    ) -> list[inference_pb2.ScoreResult]:
        """Log-probs of each (prompt, continuation)'s continuation tokens."""
        request = convert.score_request(items, temperature)
        return list(self._stub.Score(request, **self._call_options(timeout_s)).results)

    def model_info(self, *, timeout_s: float | None = None) -> inference_pb2.GetModelInfoResponse:
        return self._stub.GetModelInfo(
            inference_pb2.GetModelInfoRequest(), **self._call_options(timeout_s)
        )


class BenchmarkClient(_BlockingClient):
    """Blocking client of the Benchmark service; same `tasks()`/`grade()` as a Benchmark."""

    def __init__(self, connection: Connection | str | Sequence[str]) -> None:
        super().__init__(connection)
        self._stub = benchmark_pb2_grpc.BenchmarkServiceStub(self._channel)

    def info(self, *, timeout_s: float | None = None) -> benchmark_pb2.GetBenchmarkInfoResponse:
        return self._stub.GetBenchmarkInfo(
            benchmark_pb2.GetBenchmarkInfoRequest(), **self._call_options(timeout_s)
        )

    @property
    def name(self) -> str:
        return self.info().name

    def list_tasks(
        self, page_size: int = 0, page_token: str = "", *, timeout_s: float | None = None
    ) -> benchmark_pb2.ListTasksResponse:
        request = benchmark_pb2.ListTasksRequest(page_size=page_size, page_token=page_token)
        return self._stub.ListTasks(request, **self._call_options(timeout_s))

    def tasks(self) -> list[BenchmarkTask]:
        """Every task, all pages."""
        tasks, token = [], ""
        while True:
            page = self.list_tasks(page_token=token)
            tasks.extend(convert.task_from_proto(t) for t in page.tasks)
            token = page.next_page_token
            if not token:
                return tasks

    def task(self, task_id: str, *, timeout_s: float | None = None) -> BenchmarkTask:
        request = benchmark_pb2.GetTaskRequest(task_id=task_id)
        return convert.task_from_proto(
            self._stub.GetTask(request, **self._call_options(timeout_s)).task
        )

    def grade(
        self, submissions: Sequence[tuple[str, str]], *, timeout_s: float | None = None
    ) -> list[GradeResult]:
        """Grades of (task id, answer) pairs, in order."""
        response = self._stub.Grade(
            convert.grade_request(submissions), **self._call_options(timeout_s)
        )
        return [convert.grade_from_proto(g) for g in response.grades]


class AsyncInferenceClient(_AsyncClient):
    """asyncio client of the Inference service (create it inside the running loop)."""

    def __init__(self, connection: Connection | str | Sequence[str]) -> None:
        super().__init__(connection)
        self._stub = inference_pb2_grpc.InferenceServiceStub(self._channel)

    async def generate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | None = None,
        *,
        timeout_s: float | None = None,
    ) -> list[list[inference_pb2.Completion]]:
        response = await self.generate_response(prompts, params, timeout_s=timeout_s)
        return group_by_prompt(response.completions, len(prompts))

    async def generate_response(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | None = None,
        *,
        timeout_s: float | None = None,
    ) -> inference_pb2.GenerateResponse:
        request = convert.generate_request(inference_pb2.GenerateRequest, prompts, params)
        return await self._stub.Generate(request, **self._call_options(timeout_s))

    async def stream(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | None = None,
        *,
        timeout_s: float | None = None,
    ) -> AsyncIterator[inference_pb2.GenerateStreamResponse]:
        request = convert.generate_request(inference_pb2.GenerateStreamRequest, prompts, params)
        call = self._stub.GenerateStream(request, **self._call_options(timeout_s))
        try:
            async for message in call:
                yield message
        finally:
            call.cancel()

    async def score(
        self,
        items: Sequence[tuple[Prompt, str]],
        temperature: float = 1.0,
        *,
        timeout_s: float | None = None,
    ) -> list[inference_pb2.ScoreResult]:
        request = convert.score_request(items, temperature)
        response = await self._stub.Score(request, **self._call_options(timeout_s))
        return list(response.results)

    async def model_info(
        self, *, timeout_s: float | None = None
    ) -> inference_pb2.GetModelInfoResponse:
        return await self._stub.GetModelInfo(
            inference_pb2.GetModelInfoRequest(), **self._call_options(timeout_s)
        )


class AsyncBenchmarkClient(_AsyncClient):
    """asyncio client of the Benchmark service."""

    def __init__(self, connection: Connection | str | Sequence[str]) -> None:
        super().__init__(connection)
        self._stub = benchmark_pb2_grpc.BenchmarkServiceStub(self._channel)

    async def info(
        self, *, timeout_s: float | None = None
    ) -> benchmark_pb2.GetBenchmarkInfoResponse:
        return await self._stub.GetBenchmarkInfo(
            benchmark_pb2.GetBenchmarkInfoRequest(), **self._call_options(timeout_s)
        )

    async def tasks(self) -> list[BenchmarkTask]:
        tasks, token = [], ""
        while True:
            request = benchmark_pb2.ListTasksRequest(page_token=token)
            page = await self._stub.ListTasks(request, **self._call_options(None))
            tasks.extend(convert.task_from_proto(t) for t in page.tasks)
            token = page.next_page_token
            if not token:
                return tasks

    async def task(self, task_id: str, *, timeout_s: float | None = None) -> BenchmarkTask:
        request = benchmark_pb2.GetTaskRequest(task_id=task_id)
        response = await self._stub.GetTask(request, **self._call_options(timeout_s))
        return convert.task_from_proto(response.task)

    async def grade(
        self, submissions: Sequence[tuple[str, str]], *, timeout_s: float | None = None
    ) -> list[GradeResult]:
        response = await self._stub.Grade(
            convert.grade_request(submissions), **self._call_options(timeout_s)
        )
        return [convert.grade_from_proto(g) for g in response.grades]
