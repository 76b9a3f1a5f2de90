"""The Inference service over gRPC, on top of the batching engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc

from reasonloop.limits import at_most, clipped
from reasonloop.rpc import convert
from reasonloop.rpc.engine import (
    EngineClosedError,
    GenerationRequest,
    InferenceEngine,
    QueueFullError,
)
from reasonloop.rpc.hosting import RunningServer, ServerOptions, start_server
from reasonloop.sampling.decoder import StreamEvent
from reasonloop.v1 import inference_pb2 as pb
from reasonloop.v1 import inference_pb2_grpc

SERVICE_NAME = convert.INFERENCE_SERVICE.full_name

T = TypeVar("T")


def call_or_abort(context: grpc.ServicerContext, function: Callable[[], T]) -> T:
    """Run `function`, turning expected failures into status codes with their message."""
    try:
        return function()
    except QueueFullError as error:
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, clipped(str(error)))
    except EngineClosedError as error:
        context.abort(grpc.StatusCode.UNAVAILABLE, clipped(str(error)))
    except ValueError as error:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, clipped(str(error)))
    raise AssertionError("unreachable: abort raises")


def _events(job: GenerationRequest, context: grpc.ServicerContext) -> Iterator[StreamEvent]:
    try:
        yield from job.events()
    except Exception as error:  # a bug, not bad input: report it, keep serving
        context.abort(grpc.StatusCode.INTERNAL, clipped(f"decoding failed: {error!r}"))


class InferenceServicer(inference_pb2_grpc.InferenceServiceServicer):
    def __init__(self, engine: InferenceEngine) -> None:
        self.engine = engine

    def _submit(self, request: Any, context: grpc.ServicerContext) -> GenerationRequest:
        def submit() -> GenerationRequest:
            # counted before converting: a 4 MB message holds 800,000 one-letter prompts
            at_most("prompts", len(request.prompts), self.engine.limits.max_prompts)
            prompts = convert.prompts_from_proto(request.prompts)
            params = convert.params_from_proto(request.params)
            return self.engine.submit(prompts, params)

        job = call_or_abort(context, submit)
        # fires when the client cancels or the deadline passes; False: the RPC ended already
        # (cancelled while it was being validated), so nobody will read the job
        if not context.add_callback(job.cancel):
            job.cancel()
        return job

    def Generate(self, request: pb.GenerateRequest, context: grpc.ServicerContext) -> Any:
        job = self._submit(request, context)
        try:
            completions = job.completions()
        except Exception as error:  # a bug, not bad input: report it, keep serving
            context.abort(grpc.StatusCode.INTERNAL, clipped(f"decoding failed: {error!r}"))
        if job.cancelled:
            context.abort(grpc.StatusCode.CANCELLED, "the request was cancelled")
        tokenizer = self.engine.loaded.tokenizer
        return pb.GenerateResponse(
            completions=[convert.completion_to_proto(c, tokenizer) for c in completions],
            usage=pb.Usage(
                prompt_tokens=job.prompt_tokens,
                completion_tokens=sum(c.decoded_tokens for c in completions),
            ),
            model=self.engine.name,
        )

    def GenerateStream(
        self, request: pb.GenerateStreamRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.GenerateStreamResponse]:
        job = self._submit(request, context)
        tokenizer = self.engine.loaded.tokenizer
        for event in _events(job, context):
            message = pb.GenerateStreamResponse(
                prompt_index=event.prompt_index,
                sample_index=event.sample_index,
                text_delta=event.text_delta,
                thinking_delta=event.thinking_delta,
            )
            if event.completion is not None:
                message.completion.CopyFrom(
                    convert.completion_to_proto(event.completion, tokenizer)
                )
            yield message

    def Score(self, request: pb.ScoreRequest, context: grpc.ServicerContext) -> Any:
        def score() -> list[list[tuple[int, float]]]:
            at_most("items", len(request.items), self.engine.limits.max_score_items)
            items = [
                (convert.prompt_from_proto(item.prompt, f"items[{i}].prompt"), item.continuation)
                for i, item in enumerate(request.items)
            ]
            temperature = request.temperature if request.HasField("temperature") else 1.0
            return self.engine.score(items, temperature)

        scored = call_or_abort(context, score)
        tokenizer = self.engine.loaded.tokenizer
        return pb.ScoreResponse(
            results=[
                pb.ScoreResult(
                    total_log_prob=sum(lp for _, lp in pairs),
                    tokens=convert.token_logprobs_to_proto(pairs, tokenizer),
                )
                for pairs in scored
            ]
        )

    def GetModelInfo(self, request: pb.GetModelInfoRequest, context: grpc.ServicerContext) -> Any:
        engine = self.engine
        model = engine.loaded.model
        return pb.GetModelInfoResponse(
            model=engine.name,
            source=engine.loaded.source,
            vocab_size=model.config.vocab_size,
            context_length=min(engine.sampler.context_length, 2**31 - 1),
            thinking_modes=list(convert.THINKING_MODE_NAMES),
            has_chat_template=bool(getattr(engine.loaded.tokenizer, "chat_template", None)),
            max_new_tokens_limit=engine.max_new_tokens_limit,
            max_n=engine.limits.max_n,
            max_prompts=engine.limits.max_prompts,
            device=str(model.device),
            dtype=str(model.dtype).removeprefix("torch."),
        )


def add_inference_service(server: grpc.Server, engine: InferenceEngine) -> None:
    inference_pb2_grpc.add_InferenceServiceServicer_to_server(InferenceServicer(engine), server)


def serve_inference(engine: InferenceEngine, options: ServerOptions | None = None) -> RunningServer:
    """Start the Inference service for `engine`; the engine is closed when the server stops.

    Every request the engine can hold gets a thread, so the engine's waiting line, not the
    thread pool, is what refuses the excess (RESOURCE_EXHAUSTED beyond `max_queue`).
    """
    return start_server(
        lambda server: add_inference_service(server, engine),
        [SERVICE_NAME],
        options or ServerOptions(),
        engine.close,
        concurrent_rpcs=engine.capacity,
    )
