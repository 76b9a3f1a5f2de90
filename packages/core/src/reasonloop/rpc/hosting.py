"""What every reasonloop gRPC server has: health checking, reflection, optional bearer-token
auth and TLS, a localhost bind by default, and a graceful stop on SIGTERM/SIGINT.

Load: at most `max_concurrent_rpcs` calls are in service at once; one more is refused at once
with RESOURCE_EXHAUSTED instead of waiting unseen for a thread. Health checks are neither
counted nor refused, and the thread pool keeps threads beyond that limit for them (and for the
refusals), so a liveness probe is answered however busy the server is.
"""

from __future__ import annotations

import hmac
import logging
import signal
import ssl
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

logger = logging.getLogger(__name__)

HEALTH_METHOD_PREFIX = "/grpc.health.v1.Health/"
DEFAULT_CONCURRENT_RPCS = 64  # a service's limit unless it asks for another
SPARE_THREADS = 4  # beyond max_concurrent_rpcs: health checks and refusals never wait for one


@dataclass(frozen=True)
class ServerOptions:
    """Where and how a server listens. Port 0 picks a free port (see `RunningServer.port`)."""

    host: str = "127.0.0.1"
    port: int = 50051
    auth_token: str | None = None  # clients send `authorization: Bearer <token>`
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # calls in service at once (each holds a thread); more are refused with RESOURCE_EXHAUSTED.
    # None: what the service asks for (the Inference service: every request its engine holds)
    max_concurrent_rpcs: int | None = None
    grace_s: float = 30.0  # how long in-flight RPCs may finish on shutdown

    def __post_init__(self) -> None:
        check_tls_pair(self.tls_cert, self.tls_key)
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if self.max_concurrent_rpcs is not None and self.max_concurrent_rpcs < 1:
            raise ValueError(f"max_concurrent_rpcs must be >= 1, got {self.max_concurrent_rpcs}")


def check_tls_pair(cert: Path | None, key: Path | None) -> None:
    """Both or neither, and a pair that loads: ValueError naming what is wrong, before a
    server starts (gRPC would only say that it cannot bind)."""
    if (cert is None) != (key is None):
        raise ValueError("TLS needs both a certificate and a key file")
    if cert is None or key is None:
        return
    for path in (cert, key):
        if not Path(path).is_file():
            raise ValueError(f"TLS file not found: {path}")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except ssl.SSLError as error:
        raise ValueError(f"TLS certificate {cert} and key {key} do not load: {error}") from None


class _BearerTokenAuth(grpc.ServerInterceptor):
    """Refuses every call but health checks unless it carries the expected bearer token."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

        def deny(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing or wrong token: send metadata `authorization: Bearer <token>`",
            )

        self._deny_unary = grpc.unary_unary_rpc_method_handler(deny)
        self._deny_stream = grpc.unary_stream_rpc_method_handler(deny)

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        if details.method.startswith(HEALTH_METHOD_PREFIX):
            return continuation(details)
        sent = dict(details.invocation_metadata or ()).get("authorization", "")
        sent_bytes = sent.encode() if isinstance(sent, str) else sent
        if hmac.compare_digest(sent_bytes, self._expected):
            return continuation(details)
        handler = continuation(details)
        if handler is None:
            return None
        return self._deny_stream if handler.response_streaming else self._deny_unary


class _ConcurrencyLimit(grpc.ServerInterceptor):
    """Refuses a call with RESOURCE_EXHAUSTED when `limit` calls are already in service.

    A call takes its slot when its handler starts (on a pool thread: a call that never reaches
    its handler holds none) and gives it back when the RPC ends, streams included.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._slots = threading.BoundedSemaphore(limit)

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None or details.method.startswith(HEALTH_METHOD_PREFIX):
            return handler
        kind = ("stream" if handler.request_streaming else "unary") + (
            "_stream" if handler.response_streaming else "_unary"
        )
        return handler._replace(**{kind: self._admitted(getattr(handler, kind))})

    def _admitted(self, behavior: Callable[[Any, grpc.ServicerContext], Any]) -> Any:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            if not self._slots.acquire(blocking=False):
                context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"the server is busy ({self._limit} calls in service); retry later",
                )
            if not context.add_callback(self._slots.release):  # the RPC has already ended
                self._slots.release()
            return behavior(request, context)

        return call


class RunningServer:
    """A started gRPC server, its bound port and its health status."""

    def __init__(
        self,
        server: grpc.Server,
        port: int,
        health_servicer: health.HealthServicer,
        service_names: Sequence[str],
        on_stop: Callable[[], None] | None,
        grace_s: float,
    ) -> None:
        self.server = server
        self.port = port
        self._health = health_servicer
        self._services = list(service_names)
        self._on_stop = on_stop
        self._grace_s = grace_s
        self._stopped = threading.Event()

    def stop(self, grace_s: float | None = None) -> None:
        """Refuse new calls, let in-flight ones finish (up to the grace period), then stop."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._health.enter_graceful_shutdown()
        self.server.stop(self._grace_s if grace_s is None else grace_s).wait()
        if self._on_stop is not None:
            self._on_stop()

    def wait(self) -> None:
        """Block until stopped; SIGTERM and SIGINT (Ctrl-C) stop it gracefully."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._stop_on_signal)
        self._stopped.wait()
        self.server.wait_for_termination()

    def _stop_on_signal(self, signum: int, frame: object) -> None:
        # A signal is the one way a server exits 0: say which, so a stop is never silent
        # (a Ctrl-C or killpg meant for a client in the same process group stops it too).
        name = signal.Signals(signum).name
        logger.warning("%s received: stopping, in-flight calls may finish", name)
        threading.Thread(target=self.stop).start()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(grace_s=0)


def start_server(
    register: Callable[[grpc.Server], None],
    service_names: Sequence[str],
    options: ServerOptions,
    on_stop: Callable[[], None] | None = None,
    *,
    concurrent_rpcs: int = DEFAULT_CONCURRENT_RPCS,
) -> RunningServer:
    """Build, bind and start a server with health, reflection and the options' security;
    `concurrent_rpcs` is the service's own limit, used unless the options set one."""
    limit = options.max_concurrent_rpcs or concurrent_rpcs
    interceptors: list[grpc.ServerInterceptor] = [_ConcurrencyLimit(limit)]
    if options.auth_token:
        interceptors.insert(0, _BearerTokenAuth(options.auth_token))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=limit + SPARE_THREADS, thread_name_prefix="rpc"),
        interceptors=interceptors,
        options=[("grpc.so_reuseport", 0)],
    )
    register(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in [*service_names, ""]:  # "" is the whole server
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    address = f"{options.host}:{options.port}"
    try:
        if options.tls_cert is not None and options.tls_key is not None:
            credentials = grpc.ssl_server_credentials(
                [(Path(options.tls_key).read_bytes(), Path(options.tls_cert).read_bytes())]
            )
            port = server.add_secure_port(address, credentials)
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as error:
        raise OSError(f"cannot listen on {address}: {error}") from None
    if port == 0:
        raise OSError(f"cannot listen on {address} (in use?)")
    server.start()
    return RunningServer(server, port, health_servicer, service_names, on_stop, options.grace_s)
