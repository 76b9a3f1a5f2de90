"""Remote addresses in the one form every CLI and config takes: `grpc://HOST:PORT`.

Several comma-separated `HOST:PORT` after the scheme are replicas of one service
(`grpc://a:50051,b:50051`, spread round robin). An address is checked here before any work
starts (scheme, host, port range) so that a typo fails at once with one line, not as a DNS
error after minutes of planning and generating. Nothing is resolved here (no network).
"""

from __future__ import annotations

import ipaddress
import re

GRPC_SCHEME = "grpc://"
LEGACY_GRPC_PREFIX = "grpc:"  # benchagents' old `grpc:HOST:PORT`, read as grpc://HOST:PORT
ADDRESS_FORM = "grpc://HOST:PORT[,HOST:PORT...]"
MAX_ADDRESS_CHARS = 4096
MAX_REPLICAS = 64
_HOST_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?")


class AddressError(ValueError):
    """An address not of the form ADDRESS_FORM; the message says what is wrong (one line)."""


def is_remote(spec: str) -> bool:
    """Whether `spec` means an endpoint rather than a model, file or built-in name: any
    `grpc:` prefix or `SCHEME://` counts, so a malformed address is refused as an address
    instead of being looked for as a file or a model."""
    return spec.startswith(LEGACY_GRPC_PREFIX) or "://" in spec


def parse_grpc_address(text: str) -> list[str]:
    """The `HOST:PORT` items of `grpc://HOST:PORT[,HOST:PORT...]`; AddressError otherwise."""
    if len(text) > MAX_ADDRESS_CHARS:
        raise AddressError(f"an address is at most {MAX_ADDRESS_CHARS} characters")
    if not text.startswith(GRPC_SCHEME):
        scheme, sep, _ = text.partition("://")
        if sep:
            raise AddressError(f"unsupported scheme {scheme[:20]!r}; use {ADDRESS_FORM}")
        raise AddressError(f"{text[:60]!r} is not an address; use {ADDRESS_FORM}")
    items = text.removeprefix(GRPC_SCHEME).removesuffix("/").split(",")
    if len(items) > MAX_REPLICAS:
        raise AddressError(f"at most {MAX_REPLICAS} replicas in one address")
    return [_host_port(item) for item in items]


def _host_port(item: str) -> str:
    host, sep, port = item.rpartition(":")
    if not sep or not host:
        raise AddressError(f"{item[:60]!r} is not HOST:PORT; use {ADDRESS_FORM}")
    if not (port.isascii() and port.isdigit() and len(port) <= 5 and 1 <= int(port) <= 65535):
        raise AddressError(f"port {port[:20]!r} of {item[:60]!r} is not in 1..65535")
    if host.startswith("["):  # [IPv6]
        try:
            ipaddress.IPv6Address(host.removeprefix("[").removesuffix("]"))
        except ValueError:
            raise AddressError(f"{host[:60]!r} is not an IPv6 address in brackets") from None
        if not host.endswith("]"):
            raise AddressError(f"{host[:60]!r} is not an IPv6 address in brackets")
    elif not _HOST_NAME.fullmatch(host):
        raise AddressError(f"{host[:60]!r} is not a host name or IP address")
    return f"{host}:{port}"
