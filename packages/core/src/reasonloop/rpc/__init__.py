"""The wire contract in Python: servers and clients of the Inference and Benchmark services.

Generated message classes live in `reasonloop.v1`. This package exports what the base install
runs: the clients of both services and the Benchmark server. The Inference side needs the
`models` extra and is imported from its modules: `reasonloop.rpc.engine` (`InferenceEngine`,
`EngineLimits`, `QueueFullError`), `reasonloop.rpc.inference_server` (`serve_inference`),
`reasonloop.rpc.server` (`serve`: both services on one port) and, with the `http` extra, the
OpenAI-compatible front end `reasonloop.rpc.openai_http`.
"""

from reasonloop.rpc.benchmark_server import serve_benchmark
from reasonloop.rpc.clients import (
    AsyncBenchmarkClient,
    AsyncInferenceClient,
    BenchmarkClient,
    Connection,
    InferenceClient,
)
from reasonloop.rpc.hosting import RunningServer, ServerOptions

__all__ = [
    "AsyncBenchmarkClient",
    "AsyncInferenceClient",
    "BenchmarkClient",
    "Connection",
    "InferenceClient",
    "RunningServer",
    "ServerOptions",
    "serve_benchmark",
]
