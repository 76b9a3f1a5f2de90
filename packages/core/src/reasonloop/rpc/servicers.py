"""`add_servicer`: a service's methods registered so that a request which does not parse is
refused as a bad request.

grpcio answers a request whose bytes do not decode (a corrupt wire format, a string field that
is not UTF-8, which no well-behaved client can send) with INTERNAL "Exception deserializing
request!", as if the server had failed. Registered through here instead of the generated
`add_*Servicer_to_server`, such a request reaches the handler as a marker, and is refused with
INVALID_ARGUMENT naming the message type and what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError

from reasonloop.limits import shown


class _Unparsed:
    """What the bytes of a request that does not decode deserialize to."""

    __slots__ = ("error",)

    def __init__(self, error: str) -> None:
        self.error = error


def _parser(message: Any) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return message.FromString(data)
        except DecodeError as error:
            return _Unparsed(str(error))

    return parse


def _refusing_unparsed(behavior: Callable[..., Any], name: str) -> Callable[..., Any]:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, _Unparsed):
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request: not a valid {name} message ({shown(request.error, 120)})",
            )
        return behavior(request, context)

    return handle


def add_servicer(server: grpc.Server, service: ServiceDescriptor, servicer: object) -> None:
    """Register `servicer`'s methods for `service` (unary requests; unary or streamed
    responses), as the generated `add_*Servicer_to_server` does but for undecodable requests."""
    handlers = {}
    for method in service.methods:
        if method.client_streaming:
            raise ValueError(f"{method.full_name}: streamed requests are not supported")
        request = message_factory.GetMessageClass(method.input_type)
        response = message_factory.GetMessageClass(method.output_type)
        make = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = make(
            _refusing_unparsed(getattr(servicer, method.name), method.input_type.name),
            request_deserializer=_parser(request),
            response_serializer=response.SerializeToString,
        )
    # grpcio >= 1.62 has it; its type stubs do not
    server.add_registered_method_handlers(service.full_name, handlers)  # pyright: ignore[reportAttributeAccessIssue]
