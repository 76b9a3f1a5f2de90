"""The wire contract in Python: servers and clients of the Inference and Benchmark services.

Generated message classes live in `reasonloop.v1`; the OpenAI-compatible HTTP front end is
in `reasonloop.rpc.openai_http` (imported only when used). The Inference side (engine,
server) loads torch on first use, so clients and benchmark servers start without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reasonloop.lazy import lazy_attributes
from reasonloop.rpc.benchmark_server import serve_benchmark
from reasonloop.rpc.clients import (
    AsyncBenchmarkClient,
    AsyncInferenceClient,
    BenchmarkClient,
    Connection,
    InferenceClient,
)
from reasonloop.rpc.hosting import RunningServer, ServerOptions

if TYPE_CHECKING:
    from reasonloop.rpc.engine import EngineLimits, InferenceEngine, QueueFullError
    from reasonloop.rpc.inference_server import serve_inference
    from reasonloop.rpc.server import serve

__getattr__ = lazy_attributes(
    __name__,
    {
        "EngineLimits": "engine",
        "InferenceEngine": "engine",
        "QueueFullError": "engine",
        "serve_inference": "inference_server",
        "serve": "server",
    },
)

__all__ = [
    "AsyncBenchmarkClient",
    "AsyncInferenceClient",
    "BenchmarkClient",
    "Connection",
    "EngineLimits",
    "InferenceClient",
    "InferenceEngine",
    "QueueFullError",
    "RunningServer",
    "ServerOptions",
    "serve",
    "serve_benchmark",
    "serve_inference",
]
