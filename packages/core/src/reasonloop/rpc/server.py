"""Both services on one port: a method can serve its policy and its benchmark together."""

from __future__ import annotations

import grpc

from reasonloop.benchmarks import Benchmark
from reasonloop.rpc import benchmark_server, inference_server
from reasonloop.rpc.engine import InferenceEngine
from reasonloop.rpc.hosting import (
    DEFAULT_CONCURRENT_RPCS,
    RunningServer,
    ServerOptions,
    start_server,
)


def serve(
    options: ServerOptions | None = None,
    *,
    engine: InferenceEngine | None = None,
    benchmark: Benchmark | None = None,
) -> RunningServer:
    """Serve the Inference service (for `engine`), the Benchmark service, or both."""
    if engine is None and benchmark is None:
        raise ValueError("nothing to serve: give an engine, a benchmark, or both")
    names = []
    if engine is not None:
        names.append(inference_server.SERVICE_NAME)
    if benchmark is not None:
        names.append(benchmark_server.SERVICE_NAME)

    def register(server: grpc.Server) -> None:
        if engine is not None:
            inference_server.add_inference_service(server, engine)
        if benchmark is not None:
            benchmark_server.add_benchmark_service(server, benchmark)

    on_stop = engine.close if engine is not None else None
    concurrent_rpcs = (engine.capacity if engine is not None else 0) + (
        DEFAULT_CONCURRENT_RPCS if benchmark is not None else 0
    )
    return start_server(
        register, names, options or ServerOptions(), on_stop, concurrent_rpcs=concurrent_rpcs
    )
