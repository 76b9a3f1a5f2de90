"""`sandbox.backend = "ray"`: the same programs give the same results on a Ray cluster as in
local workers (where Ray is installed), and the option is validated like any other."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

from codeit.config import load_config
from codeit.execution import ProgramRunner
from codeit.mutation import mutate
from codeit.program import parse
from codeit.seeds import SEED_PROGRAMS

RAY = importlib.util.find_spec("ray") is not None
GRIDS = (((1, 0, 0), (2, 0, 0)), ((0, 3), (0, 4), (5, 0)), ((6, 6, 0), (7, 0, 0), (0, 0, 8)))


def two_hundred_programs() -> list[str]:
    """The seeds, seeded mutants of them, and programs that fail to parse or to run."""
    rng = random.Random(0)
    seeds = list(SEED_PROGRAMS.values())
    programs = [*seeds, "O = nope(I)\n", "import os\n", "x1 = hsplit(I, 3)\nO = first(x1)\n"]
    while len(programs) < 200:
        mutant = mutate(parse(rng.choice(seeds)), rng)
        if mutant is not None:
            programs.append(mutant.to_source())
    return programs


@pytest.fixture
def ray_on_this_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray's workers run this interpreter: under `uv run` Ray would start them with `uv run`
    in an uploaded copy of the working directory instead (read when ray is imported)."""
    monkeypatch.setenv("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")


@pytest.mark.skipif(not RAY, reason="Ray is not installed: pip install 'reasonloop-core[ray]'")
@pytest.mark.slow
@pytest.mark.usefixtures("ray_on_this_interpreter")
def test_ray_runs_two_hundred_programs_like_local_workers() -> None:
    programs = two_hundred_programs()
    inputs = [GRIDS] * len(programs)
    with ProgramRunner(2) as local, ProgramRunner(2, backend="ray") as cluster:
        expected = local.run(programs, inputs, cache=False)
        assert cluster.run(programs, inputs, cache=False) == expected
    assert sum(r.valid for r in expected) > 100
    assert sum(not r.valid for r in expected) >= 3


def test_backend_is_a_validated_sandbox_option(tmp_path: Path) -> None:
    config = tmp_path / "ray.toml"
    config.write_text('[sandbox]\nbackend = "ray"\nray_address = "auto"\n')
    sandbox = load_config(config).sandbox
    assert (sandbox.backend, sandbox.ray_address) == ("ray", "auto")
    assert load_config(None).sandbox.backend == "local"
    config.write_text('[sandbox]\nbackend = "dask"\n')
    with pytest.raises(ValueError, match=r"sandbox\.backend"):
        load_config(config)
    with ProgramRunner.from_config(load_config(None).sandbox) as runner:
        (result,) = runner.run(["O = vmirror(I)\n"], [GRIDS[:1]])
        assert result.outputs == (((0, 0, 1), (0, 0, 2)),)


def test_ray_backend_without_ray_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, installed or not
    sandbox = load_config(None).sandbox.model_copy(update={"backend": "ray"})
    with pytest.raises(ValueError, match=r"pip install 'reasonloop-core\[ray\]'"):
        ProgramRunner.from_config(sandbox)
