"""Regenerate the Python code of the wire contract from the .proto files.

    uv run python protos/generate.py            # writes into packages/core/src/reasonloop/v1
    uv run python protos/generate.py --out DIR  # writes DIR/reasonloop/v1 (used by the test)

The generated modules are committed; `tests/rpc/test_protos.py` checks they match.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROTOS = Path(__file__).resolve().parent
DEFAULT_OUT = PROTOS.parent / "packages" / "core" / "src"
FILES = ["reasonloop/v1/inference.proto", "reasonloop/v1/benchmark.proto"]


def generate(out: Path) -> None:
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    (out / "reasonloop" / "v1").mkdir(parents=True, exist_ok=True)
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTOS}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *FILES,
        ]
    )
    if code != 0:
        sys.exit(f"protoc failed with status {code}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    generate(parser.parse_args().out)
