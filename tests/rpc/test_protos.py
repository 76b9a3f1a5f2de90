"""The committed generated code is what protos/ generates, and the contract follows its style."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "packages" / "core" / "src" / "reasonloop" / "v1"
GENERATED_FILES = sorted(
    f"{stem}{suffix}"
    for stem in ("inference", "benchmark")
    for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
)


def test_committed_code_matches_protos(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "protos" / "generate.py"), "--out", str(tmp_path)], check=True
    )
    fresh = tmp_path / "reasonloop" / "v1"
    assert sorted(p.name for p in fresh.iterdir()) == GENERATED_FILES
    for name in GENERATED_FILES:
        assert (fresh / name).read_bytes() == (GENERATED / name).read_bytes(), (
            f"{name} is stale: run `uv run python protos/generate.py`"
        )


def test_style_rpcs_have_their_own_request_and_response_and_enums_start_unspecified() -> None:
    from reasonloop.v1 import benchmark_pb2, inference_pb2

    for module in (inference_pb2, benchmark_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            assert service.name.endswith("Service")
            for method in service.methods:
                assert method.input_type.name == f"{method.name}Request"
                assert method.output_type.name == f"{method.name}Response"
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            prefix = "".join(f"_{c}" if c.isupper() else c.upper() for c in enum.name)[1:]
            assert enum.values[0].number == 0
            assert enum.values[0].name == f"{prefix}_UNSPECIFIED"
            assert all(v.name.startswith(f"{prefix}_") for v in enum.values)
        assert module.DESCRIPTOR.package == "reasonloop.v1"
