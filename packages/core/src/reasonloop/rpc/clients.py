"""Python clients of both services, blocking and asyncio.

Each call is written once, in `reasonloop.rpc.calls` (its parameters, request and reply); the
client classes only make the RPCs, blocking or awaiting. A client takes one address or several
(stateless replicas): with several, calls are spread round robin. UNAVAILABLE is retried with
backoff by gRPC itself (service config), so a replica that restarts costs a retry, not a failed
run. Every call has a deadline.

Clients speak the core's types: prompts are strings or chat messages, parameters are
`SamplingParams`, tasks and grades are `BenchmarkTask` / `GradeResult`. So code written
against an in-process `Benchmark` runs unchanged against a remote one.
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, ParamSpec, Self, TypeVar, overload

import grpc
import grpc.aio

from reasonloop.rpc import calls, convert
from reasonloop.rpc.calls import Exchange, Rpc
from reasonloop.v1 import benchmark_pb2_grpc, inference_pb2_grpc

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


P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class _Client:
    _service_stub: ClassVar[type]  # the service's generated stub class
    _stub: Any  # its instance on this client's channel

    def __init__(self, connection: Connection | str | Sequence[str]) -> None:
        self.connection = (
            connection if isinstance(connection, Connection) else Connection(connection)
        )

    def _call(self, rpc: Rpc[Any]) -> Any:
        """Start `rpc` on this client's stub: its reply (blocking) or call object (asyncio)."""
        timeout = self.connection.timeout_s if rpc.timeout_s is None else rpc.timeout_s
        method = getattr(self._stub, rpc.method)
        return method(rpc.request, timeout=timeout, metadata=self.connection.metadata)


@dataclass(frozen=True)
class _Returned(Generic[T]):
    value: T


def _advance(exchange: Exchange[T], reply: Any) -> Rpc[Any] | _Returned[T]:
    """The exchange's next RPC, sent the last one's reply; or its result once it returned."""
    try:
        return exchange.send(reply)
    except StopIteration as returned:
        return _Returned(returned.value)


class _BlockingClient(_Client):
    def __init__(self, connection: Connection | str | Sequence[str]) -> None:
        super().__init__(connection)
        self._channel = self.connection.channel()
        self._stub = self._service_stub(self._channel)

    def _run(self, exchange: Exchange[T]) -> T:
        step = _advance(exchange, None)
        while isinstance(step, Rpc):
            step = _advance(exchange, self._call(step))
        return step.value

    def _stream(self, rpc: Rpc[R]) -> Iterator[R]:
        call = self._call(rpc)
        try:
            yield from call
        finally:
            call.cancel()

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
        self._stub = self._service_stub(self._channel)

    async def _run(self, exchange: Exchange[T]) -> T:
        step = _advance(exchange, None)
        while isinstance(step, Rpc):
            step = _advance(exchange, await self._call(step))
        return step.value

    async def _stream(self, rpc: Rpc[R]) -> AsyncIterator[R]:
        call = self._call(rpc)
        try:
            async for message in call:
                yield message
        finally:
            call.cancel()

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# The client methods, made from the calls of `reasonloop.rpc.calls` for both kinds of client.
# A method is an overloaded function: the type checker binds the overload whose client
# matches, so a blocking client's method returns the result and an asyncio client's a
# coroutine (or an async iterator), with the call's own parameters. No annotation of the
# factories' return could say that, so their return types are inferred.


def _unary(exchange: Callable[P, Exchange[T]]):
    @overload
    def method(client: _BlockingClient, *args: P.args, **kwargs: P.kwargs) -> T: ...
    @overload
    def method(
        client: _AsyncClient, *args: P.args, **kwargs: P.kwargs
    ) -> Coroutine[Any, Any, T]: ...
    def method(client: Any, *args: P.args, **kwargs: P.kwargs) -> Any:
        return client._run(exchange(*args, **kwargs))

    return _like(method, exchange)


def _streaming(stream: Callable[P, Rpc[R]]):
    @overload
    def method(client: _BlockingClient, *args: P.args, **kwargs: P.kwargs) -> Iterator[R]: ...
    @overload
    def method(client: _AsyncClient, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[R]: ...
    def method(client: Any, *args: P.args, **kwargs: P.kwargs) -> Any:
        return client._stream(stream(*args, **kwargs))

    return _like(method, stream)


Method = TypeVar("Method", bound=Callable[..., Any])


def _like(method: Method, call: Callable[..., Any]) -> Method:
    """`method` named and documented as `call`, with its signature (for `help()`)."""
    signature = inspect.signature(call)
    client = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    method.__signature__ = signature.replace(
        parameters=[client, *signature.parameters.values()],
        return_annotation=inspect.Signature.empty,  # the call's is the exchange's
    )
    method.__name__, method.__doc__ = call.__name__, call.__doc__
    return method


class _InferenceCalls:
    """The Inference service's calls, on both of its clients."""

    _service_stub = inference_pb2_grpc.InferenceServiceStub
    generate = _unary(calls.generate)
    generate_response = _unary(calls.generate_response)
    stream = _streaming(calls.stream)
    score = _unary(calls.score)
    model_info = _unary(calls.model_info)


class _BenchmarkCalls:
    """The Benchmark service's calls, on both of its clients."""

    _service_stub = benchmark_pb2_grpc.BenchmarkServiceStub
    info = _unary(calls.info)
    list_tasks = _unary(calls.list_tasks)
    tasks = _unary(calls.tasks)
    task = _unary(calls.task)
    grade = _unary(calls.grade)


class InferenceClient(_InferenceCalls, _BlockingClient):
    """Blocking client of the Inference service."""


class AsyncInferenceClient(_InferenceCalls, _AsyncClient):
    """asyncio client of the Inference service (create it inside the running loop)."""


class BenchmarkClient(_BenchmarkCalls, _BlockingClient):
    """Blocking client of the Benchmark service; same `tasks()`/`grade()` as a Benchmark."""

    @property
    def name(self) -> str:
        return self.info().name


class AsyncBenchmarkClient(_BenchmarkCalls, _AsyncClient):
    """asyncio client of the Benchmark service."""
