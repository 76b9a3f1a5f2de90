"""The one command-line grammar of the four CLIs (reasonloop, softcot, codeit, benchagents).

An option that means the same thing in several CLIs is declared here once (its name, its help
text, its check), so the CLIs cannot drift apart; the root README's CLI section lists them and
tests/core/test_cli_grammar.py compares that table with every CLI's real `--help`. Here too:
the consoles, the one-line `error:` exit 2, `--version`, `--set` and the deprecated aliases.

Checks run while the command line is parsed, before any work: a bad address or device is one
`error: --OPTION: ...` line and exit status 2, not a DNS error after minutes of planning.
What a resumed run recovers from a crash (the `reasonloop.recovery` log: a torn log line
dropped, leftovers removed) prints as one `note:` line each, in every CLI that imports this.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from reasonloop.addresses import AddressError, is_remote, parse_grpc_address
from reasonloop.extras import Extra, MissingExtraError, requires

if TYPE_CHECKING:
    from reasonloop.configfile import Config
    from reasonloop.rpc import ServerOptions

out = Console()
err = Console(stderr=True)


class _Notes(logging.Handler):
    """Log records as `note: MESSAGE` lines on stderr (the console finds the current one)."""

    def emit(self, record: logging.LogRecord) -> None:
        line = " ".join(record.getMessage().split("\n"))
        err.print(f"[yellow]note:[/yellow] {escape(line)}", highlight=False, soft_wrap=True)


_recovery = logging.getLogger("reasonloop.recovery")
_recovery.addHandler(_Notes(logging.INFO))
_recovery.propagate = False  # printed once, whatever handlers the root logger has


def fail(message: str) -> typer.Exit:
    """Print `error: MESSAGE` as one line (whatever a parser's message holds); exit code 2."""
    # escaped: a message's own brackets (`pip install 'pkg[extra]'`) are text, not markup
    line = " ".join(message.split("\n"))
    err.print(f"[red]error:[/red] {escape(line)}", highlight=False, soft_wrap=True, emoji=False)
    return typer.Exit(code=2)


@contextmanager
def needs_extra(extra: Extra) -> Iterator[None]:
    """`reasonloop.extras.requires` in a command: a missing extra is the one `error:` line naming
    the pip command, exit 2, not a traceback."""
    try:
        with requires(extra):
            yield
    except MissingExtraError as error:
        raise fail(str(error)) from None


def warn(message: str) -> None:
    """Print `warning: MESSAGE` as one line on stderr."""
    err.print(
        f"[yellow]warning:[/yellow] {escape(message)}", highlight=False, soft_wrap=True, emoji=False
    )


def add_version_option(cli: typer.Typer, distribution: str) -> None:
    """Give `cli` a `--version` that prints the installed `distribution`'s version
    (importlib.metadata) and exits 0; every reasonloop CLI calls this once."""

    def show(value: bool) -> None:
        if value:
            out.print(f"{cli.info.name} {metadata.version(distribution)}", highlight=False)
            raise typer.Exit()

    @cli.callback()
    def options(  # a default, not Annotated: annotations are strings, `show` is local
        version: bool = typer.Option(
            False, "--version", callback=show, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        pass


def deprecated(old_value: Any, old: str, new_value: Any, new: str) -> Any:
    """The value of option `new`, or of its hidden deprecated spelling `old` (with a warning)."""
    if old_value is None or old_value is False:
        return new_value
    if new_value is not None and new_value is not False:
        raise fail(f"{old} is the old spelling of {new}: give {new} only")
    warn(f"{old} is deprecated; use {new}")
    return old_value


# ---- checks (typer callbacks: they run while the command line is parsed) -------------------

DEVICE_FORMS = "cpu, cuda, cuda:N, mps or auto"
_DEVICE = re.compile(r"cpu|cuda|cuda:\d{1,3}|mps|auto")


def _device(value: str | None) -> str | None:
    """`auto` (and no option) is None: CUDA when present, else the CPU."""
    if value is None:
        return None
    if not _DEVICE.fullmatch(value):
        raise fail(f"--device: {value[:40]!r} is not a device; use {DEVICE_FORMS}")
    return None if value == "auto" else value


DTYPES = ("auto", "float32", "bfloat16", "float16")


def _dtype(value: str | None) -> str | None:
    """`auto` (and no option) is None: bfloat16 on a GPU that has it, else float32."""
    if value is not None and value not in DTYPES:
        raise fail(f"--dtype: {value[:40]!r} is not one of {', '.join(DTYPES)}")
    return None if value == "auto" else value


def check_address(option: str, value: str) -> str:
    """`value` if it is a well-formed `grpc://` address; otherwise exit 2 naming `option`."""
    try:
        parse_grpc_address(value)
    except AddressError as error:
        raise fail(f"{option}: {error}") from None
    return value


def _endpoints(option: str) -> Any:
    """A callback checking the `grpc:` values of `option` (model specs and files pass)."""

    def check(value: str | list[str] | None) -> str | list[str] | None:
        for item in [value] if isinstance(value, str) else value or []:
            if is_remote(item):
                check_address(option, item)
        return value

    return check


def _positive(option: str) -> Any:
    def check(value: int | None) -> int | None:
        if value is not None and value < 1:
            raise fail(f"{option}: must be at least 1, got {value}")
        return value

    return check


def _port(value: int) -> int:
    if not 0 <= value <= 65535:
        raise fail(f"--port: {value} is not in 0..65535")
    return value


# ---- the shared options ----------------------------------------------------------------------

MODEL_HELP = (
    "Model spec: a built-in name (tiny-llama, smollm2-135m), an HF dir, a .gguf or a hub id."
)
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Run config: a TOML/YAML/JSON file or a shipped config's name."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Change one config field, e.g. --set train.seed=3 (repeatable; SECTION.KEY).",
    ),
]
ModelOption = Annotated[str | None, typer.Option("--model", help=MODEL_HELP)]
_RUN_DIR = typer.Option("--run-dir", help="The run's directory (checkpoints, logs, reports).")
RunDirOption = Annotated[Path | None, _RUN_DIR]
RunDirWithDefault = Annotated[Path, _RUN_DIR]  # a command that gives it a default path
ResumeOption = Annotated[
    bool, typer.Option("--resume", help="Continue the run in --run-dir where it stopped.")
]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Random seed.")]
DeviceOption = Annotated[
    str | None,
    typer.Option("--device", callback=_device, help=f"{DEVICE_FORMS} (default: auto)."),
]
DtypeOption = Annotated[
    str | None,
    typer.Option(
        "--dtype",
        callback=_dtype,
        help="The weights' dtype: auto (bfloat16 on a GPU that has it, else float32), "
        "float32, bfloat16 or float16.",
    ),
]
IterationsOption = Annotated[
    int | None,
    typer.Option(
        "--iterations",
        help="Iterations of the sample-score-learn loop (softcot: steps, codeit: meta-iterations).",
    ),
]
LimitOption = Annotated[
    int | None,
    typer.Option("--limit", callback=_positive("--limit"), help="Only the first N items."),
]
HostOption = Annotated[
    str,
    typer.Option("--host", help="Interface to bind (0.0.0.0 exposes it to the network)."),
]
PortOption = Annotated[
    int, typer.Option("--port", callback=_port, help="gRPC port (0: pick a free one).")
]
ServerAuthOption = Annotated[
    str | None,
    typer.Option(
        "--auth-token",
        envvar="REASONLOOP_AUTH_TOKEN",
        help="Require `authorization: Bearer <token>` on every call.",
    ),
]
ClientAuthOption = Annotated[
    str | None,
    typer.Option(
        "--auth-token",
        envvar="REASONLOOP_AUTH_TOKEN",
        help="Send `authorization: Bearer <token>` to grpc:// servers.",
    ),
]
TlsCertOption = Annotated[
    Path | None, typer.Option("--tls-cert", help="PEM certificate: serve over TLS.")
]
TlsKeyOption = Annotated[
    Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.")
]

# serve-benchmark's default port in each CLI (one each, so all four can run side by side;
# `reasonloop serve` is 50051)
BENCHMARK_PORTS = {"reasonloop": 50052, "softcot": 50053, "codeit": 50054, "benchagents": 50055}


def remote_option(option: str, help: str) -> Any:
    """A `--model`/`--benchmark`/`--backend`-like option whose `grpc:` values are checked."""
    return typer.Option(option, callback=_endpoints(option), help=help)


def server_options(
    host: str, port: int, auth_token: str | None, tls_cert: Path | None, tls_key: Path | None
) -> ServerOptions:
    """The serve options (HostOption ... TlsKeyOption) as the rpc servers take them."""
    from reasonloop.rpc import ServerOptions

    return ServerOptions(
        host=host, port=port, auth_token=auth_token, tls_cert=tls_cert, tls_key=tls_key
    )


def configured(
    config: Config, settings: list[str] | None, shortcuts: Mapping[str, Any] | None = None
) -> Config:
    """`config` with the shortcut options ({dotted key: value}, None = not given), then each
    `--set KEY=VALUE`, applied and validated together; ValueError of one line otherwise."""
    from reasonloop.configfile import parse_settings, with_settings  # pydantic: not for --help

    given = {key: value for key, value in (shortcuts or {}).items() if value is not None}
    return with_settings(config, given | parse_settings(settings or []))
