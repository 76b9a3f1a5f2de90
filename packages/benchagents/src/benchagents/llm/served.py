"""A model served by a reasonloop Inference server (gRPC).

Chat messages travel as messages; the server renders them with its model's chat template
(the same `Sampler.encode` the local backend uses), and a JSON schema travels as the request's
grammar, so the server constrains the answer exactly as the local backend does.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from benchagents.llm.base import LLM, BackendError, GenerationOptions, Messages
from reasonloop.rpc import Connection, InferenceClient


class GrpcBackend(LLM):
    batch_size = 16

    def __init__(
        self, address: str, auth_token: str | None = None, timeout_s: float = 600.0
    ) -> None:
        super().__init__()
        self.address = address
        self.name = f"grpc://{address}"
        replicas = address.split(",")  # HOST:PORT[,HOST:PORT...]: one service's replicas
        self._client = InferenceClient(Connection(replicas, auth_token, timeout_s=timeout_s))

    def generate(
        self, conversations: Sequence[Messages], options: GenerationOptions
    ) -> list[list[str]]:
        if not conversations:
            return []
        params = options.sampling_params()
        self.count("calls")
        try:
            groups = self._client.generate(list(conversations), params)
        except grpc.RpcError as error:
            raise BackendError(
                f"inference server {self.address}: {error.code().name}: {error.details()}"
            ) from None
        return [[c.text for c in group] for group in groups]

    def close(self) -> None:
        self._client.close()
