"""Every distribution builds (sdist, then the wheel from the sdist) and installs with pip into a
fresh virtual environment next to the core alone; its CLI answers `--help` and runs one real
command offline. The wheels carry complete metadata, and a method depends on the core (with the
extras it uses), never on another method. The core without extras is a client and Benchmark
server without torch: it installs none, serves tasks and grades over gRPC.

pip installs our wheels from a folder with no index at all, so it accepts a wheel only when every
requirement the wheel declares is already met. uv puts the third-party requirements there first
(pip's interface over uv's cache), pinned to this workspace's versions, so the files are linked
from the cache instead of downloaded again (torch alone is gigabytes).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "https://github.com/reasonloop/reasonloop"
CORE = "reasonloop-core"
METHODS = ("reasonloop-softcot", "reasonloop-codeit", "reasonloop-benchagents")
CLIS = {
    CORE: "reasonloop",
    "reasonloop-softcot": "softcot",
    "reasonloop-codeit": "codeit",
    "reasonloop-benchagents": "benchagents",
}
CLASSIFIERS = {
    "Development Status :: 3 - Alpha",
    "Operating System :: POSIX :: Linux",
    "Operating System :: MacOS",
    "Programming Language :: Python :: 3.11",
    "Programming Language :: Python :: 3.12",
    "Topic :: Scientific/Engineering :: Artificial Intelligence",
}
# What the base install of the core must not pull in (each comes with an extra).
HEAVY = {
    "torch",
    "transformers",
    "peft",
    "safetensors",
    "gguf",
    "xgrammar",
    "math-verify",
    "matplotlib",
    "fastapi",
    "uvicorn",
}
# Two tasks with exact answers, for the core's `serve-benchmark --grader exact`.
EXACT_TASKS = [
    {"id": "capital", "prompt": "The capital of France?", "answer": "Paris"},
    {"id": "sum", "prompt": "2 + 3 = ?", "answer": "5"},
]
# Runs in the base install: a client of the Benchmark service, and what it imported.
BENCHMARK_CLIENT = """
import json, sys
from reasonloop.rpc import BenchmarkClient
with BenchmarkClient(sys.argv[1]) as client:
    tasks = client.tasks()
    grades = client.grade([("capital", "Paris"), ("sum", "6")])
print(json.dumps({
    "tasks": [task.id for task in tasks],
    "scores": [grade.score for grade in grades],
    "heavy_imported": sorted({"torch", "transformers"} & set(sys.modules)),
}))
"""
# A tiny softcot run: random-init model, two RLOO steps on built-in problems (seconds).
SOFTCOT_TOY_CONFIG = """
[model]
spec = "tiny-llama"
lora_rank = 4
lora_alpha = 8

[data]
levels = [0]
train_count = 8
test_count = 2

[thinking]
mode = "soft"
max_tokens = 3

[train]
steps = 2
prompts_per_step = 2
group_size = 2
micro_batch = 4
max_new_tokens = 4
checkpoint_every = 2
"""
# One BA-Calendar row (the published dataset's shape): Alice and Bob, 30 minutes, not before 10.
BA_CALENDAR_ROW = {
    "id": "ba-1",
    "task_prompt": "Alice and Bob need a 30 minute meeting ...",
    "params": {"days_of_week": ["Monday", "Tuesday"], "granularity": 30},
    "constraints": {
        "meeting_duration": 30,
        "buffer_time_before_and_after_meeting": None,
        "no_meetings_on_weekends": False,
        "no_meetings_before": 10,
        "no_meetings_after": None,
        "no_meetings_during_specific_times": None,
        "high_priority_meeting": True,
    },
    "metadata": {
        "availability": json.dumps(
            {
                "Alice": {"Monday": ["09:00-12:00"], "Tuesday": ["13:00-15:00"]},
                "Bob": {"Monday": ["10:00-11:00"], "Tuesday": ["14:00-17:00"]},
            }
        )
    },
}


def _uv() -> str:
    uv = shutil.which("uv")
    assert uv, "uv is needed to build the wheels and the fresh environments"
    return uv


def _run(args: list[str | Path], *, timeout: float, **kwargs: object) -> str:
    """Run a step that must succeed; its output is the failure message when it does not."""
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kwargs
    )
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return message_from_bytes(archive.read(name))


def _requirement_name(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert name, requirement
    return re.sub(r"[-_.]+", "-", name.group()).lower()


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Distribution name -> its wheel, built from its sdist as a release would be."""
    out = tmp_path_factory.mktemp("dist")
    _run([_uv(), "build", "--all-packages", "--quiet", "-o", out], timeout=600, cwd=ROOT)
    built = {_metadata(wheel)["Name"]: wheel for wheel in out.glob("*.whl")}
    assert set(built) == set(CLIS)
    assert len(list(out.glob("*.tar.gz"))) == len(CLIS)
    return built


@pytest.mark.parametrize("dist", list(CLIS))
def test_wheel_metadata_is_complete(dist: str, wheels: dict[str, Path]) -> None:
    meta = _metadata(wheels[dist])
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["Version"])
    assert meta["Version"] == _metadata(wheels[CORE])["Version"]  # released together
    assert meta["Summary"] and meta["Author"] and meta["Keywords"]
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["Description-Content-Type"] == "text/markdown"
    readme = meta.get_payload()
    assert "pip install" in readme and f"{REPOSITORY}#readme" in readme
    # PEP 639: the SPDX expression and the file; license classifiers are superseded by it.
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    classifiers = set(meta.get_all("Classifier"))
    assert classifiers >= CLASSIFIERS
    assert not [c for c in classifiers if c.startswith("License ::")]
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert set(urls) == {"Homepage", "Repository", "Documentation", "Issues"}
    assert all(url.startswith(REPOSITORY) for url in urls.values())
    with zipfile.ZipFile(wheels[dist]) as archive:
        (license_file,) = [n for n in archive.namelist() if n.endswith("/licenses/LICENSE")]
        assert archive.read(license_file) == (ROOT / "LICENSE").read_bytes()


@pytest.mark.parametrize("dist", list(CLIS))
def test_methods_depend_on_the_core_alone(dist: str, wheels: dict[str, Path]) -> None:
    requirements = _metadata(wheels[dist]).get_all("Requires-Dist")
    ours = {_requirement_name(r) for r in requirements if r.startswith("reasonloop")}
    assert ours == (set() if dist == CORE else {CORE})


def test_the_core_keeps_the_heavy_stacks_in_extras(wheels: dict[str, Path]) -> None:
    base = {canonicalize_name(Requirement(r).name) for r in _third_party(wheels, [CORE])}
    assert "grpcio" in base and "protobuf" in base and "pydantic" in base
    assert not base & HEAVY
    models = {Requirement(r).name for r in _third_party(wheels, [f"{CORE}[models]"])}
    assert {"torch", "transformers", "peft"} <= models


def _third_party(wheels: dict[str, Path], dists: list[str]) -> list[str]:
    """What `dists` ("name" or "name[extra,...]") require outside this workspace, following the
    extras they ask of our own distributions (softcot's `reasonloop-core[models,...]`) through
    the wheels' metadata, as pip would."""
    todo, seen, found = [Requirement(d) for d in dists], set(), []
    while todo:
        wanted = todo.pop()
        for extra in ["", *sorted(wanted.extras)]:
            if (wanted.name, extra) in seen:
                continue
            seen.add((wanted.name, extra))
            for line in _metadata(wheels[wanted.name]).get_all("Requires-Dist") or []:
                requirement = Requirement(line)
                if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
                    continue
                if requirement.name.startswith("reasonloop"):
                    todo.append(requirement)
                else:
                    requirement.marker = None  # evaluated here; an `extra ==` would hide it
                    found.append(str(requirement))
    return found


def _fresh_environment(root: Path, wheels: dict[str, Path], dists: list[str]) -> Path:
    """A new venv holding `dists` (names, with extras if any), installed by pip from the wheels
    alone; returns its bin/."""
    uv = _uv()
    venv = root / "venv"
    _run([uv, "venv", "--no-config", "--seed", "--quiet", "--python", sys.executable, venv],
         timeout=120, cwd=root)  # fmt: skip
    python = venv / "bin" / "python"
    declared = _third_party(wheels, dists)
    pins = root / "workspace-versions.txt"
    pins.write_text(
        "".join(
            f"{d.metadata['Name']}=={d.version}\n"
            for d in importlib.metadata.distributions()
            if not d.metadata["Name"].startswith("reasonloop")
        )
    )
    _run([uv, "pip", "install", "--no-config", "--quiet", "--python", python,
          "--constraint", pins, *declared], timeout=900, cwd=root)  # fmt: skip
    pip = [python, "-m", "pip", "--disable-pip-version-check"]
    wheel_dir = wheels[CORE].parent
    _run([*pip, "install", "--quiet", "--no-index", "--find-links", wheel_dir, *dists],
         timeout=600, cwd=root)  # fmt: skip
    _run([*pip, "check"], timeout=300, cwd=root)
    listed = json.loads(_run([*pip, "list", "--format=json"], timeout=300, cwd=root))
    ours = {p["name"] for p in listed if p["name"].startswith("reasonloop")}
    assert ours == {Requirement(d).name for d in dists}
    return venv / "bin"


def _offline_env(bin_dir: Path, root: Path) -> dict[str, str]:
    """The fresh venv first on PATH, nothing of the workspace importable, no network needed."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        "HF_HUB_OFFLINE": "1",
        "REASONLOOP_CACHE": str(root / "cache"),
    }
    return env


def _core_generates(bin_dir: Path, root: Path, env: dict[str, str]) -> None:
    output = _run([bin_dir / "reasonloop", "generate", "--model", "tiny-llama", "--prompt", "hi",
                   "--max-new-tokens", "4"], timeout=300, cwd=root, env=env)  # fmt: skip
    assert "tokens)" in output


def _softcot_trains(bin_dir: Path, root: Path, env: dict[str, str]) -> None:
    config = root / "toy.toml"
    config.write_text(SOFTCOT_TOY_CONFIG)
    run = root / "run"
    _run([bin_dir / "softcot", "train", "--config", config, "--run-dir", run],
         timeout=300, cwd=root, env=env)  # fmt: skip
    steps = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2]
    assert json.loads((run / "run.json").read_text())["model"]["spec"] == "tiny-llama"


def _codeit_draws(bin_dir: Path, root: Path, env: dict[str, str]) -> None:
    picture = root / "task.png"
    output = _run([bin_dir / "codeit", "show", "007bbfb7", "--out", picture],
                  timeout=300, cwd=root, env=env)  # fmt: skip
    assert str(picture) in output
    assert picture.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def _benchagents_imports(bin_dir: Path, root: Path, env: dict[str, str]) -> None:
    rows = root / "ba.jsonl"
    rows.write_text(json.dumps(BA_CALENDAR_ROW) + "\n")
    run = root / "run"
    output = _run([bin_dir / "benchagents", "import-ba-calendar", rows, "--run-dir", run],
                  timeout=300, cwd=root, env=env)  # fmt: skip
    assert "imported 1 instances" in output
    (line,) = (run / "dataset" / "v1" / "instances.jsonl").read_text().splitlines()
    assert json.loads(line)["reference"] == "Monday 10:00-10:30"  # the solver's answer
    shown = _run([bin_dir / "benchagents", "show", "--run-dir", run],
                 timeout=300, cwd=root, env=env)  # fmt: skip
    assert "stage: evaluation" in shown


REAL_COMMANDS: dict[str, Callable[[Path, Path, dict[str, str]], None]] = {
    CORE: _core_generates,
    "reasonloop-softcot": _softcot_trains,
    "reasonloop-codeit": _codeit_draws,
    "reasonloop-benchagents": _benchagents_imports,
}


@pytest.mark.slow
@pytest.mark.parametrize("dist", list(CLIS))
def test_installs_alone_with_pip_and_its_cli_runs(
    dist: str, wheels: dict[str, Path], tmp_path: Path
) -> None:
    dists = [f"{CORE}[models]"] if dist == CORE else [CORE, dist]  # core: generate needs models
    bin_dir = _fresh_environment(tmp_path, wheels, dists)
    env = _offline_env(bin_dir, tmp_path)
    cli = bin_dir / CLIS[dist]
    usage = _run([cli, "--help"], timeout=120, cwd=tmp_path, env=env)
    assert f"Usage: {CLIS[dist]}" in usage
    REAL_COMMANDS[dist](bin_dir, tmp_path, env)


@pytest.mark.slow
def test_the_base_core_serves_and_grades_without_torch(
    wheels: dict[str, Path], tmp_path: Path, free_port: Callable[[], int]
) -> None:
    bin_dir = _fresh_environment(tmp_path, wheels, [CORE])
    env = _offline_env(bin_dir, tmp_path)
    pip_list = [bin_dir / "python", "-m", "pip", "--disable-pip-version-check", "list"]
    listed = json.loads(_run([*pip_list, "--format=json"], timeout=300, cwd=tmp_path, env=env))
    installed = {canonicalize_name(p["name"]) for p in listed}
    assert "grpcio" in installed
    assert not installed & HEAVY, f"the base install holds {sorted(installed & HEAVY)}"

    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(task) + "\n" for task in EXACT_TASKS))
    port = free_port()
    server = subprocess.Popen(
        [bin_dir / "reasonloop", "serve-benchmark", "--tasks", tasks, "--grader", "exact",
         "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        client = [bin_dir / "python", "-c", BENCHMARK_CLIENT, f"127.0.0.1:{port}"]
        deadline = time.monotonic() + 120
        while True:  # the server is ready once a client gets an answer
            done = subprocess.run(client, capture_output=True, text=True, timeout=120, env=env)
            if done.returncode == 0 or time.monotonic() > deadline or server.poll() is not None:
                break
            time.sleep(0.5)
    finally:
        server.terminate()
        output = server.communicate(timeout=60)[0]
    assert done.returncode == 0, f"client: {done.stderr}\nserver: {output}"
    report = json.loads(done.stdout)
    assert report == {"tasks": ["capital", "sum"], "scores": [1.0, 0.0], "heavy_imported": []}

    # what needs an extra says which, in one line, and the light commands still run
    generate = [bin_dir / "reasonloop", "generate", "--model", "tiny-llama", "--prompt", "hi"]
    failed = subprocess.run(generate, capture_output=True, text=True, timeout=120, env=env)
    assert (failed.returncode, failed.stderr) == (
        2,
        "error: transformers is not installed; it comes with the 'models' extra: "
        "pip install 'reasonloop-core[models]'\n",
    )
    serve_math = [bin_dir / "reasonloop", "serve-benchmark", "--port", str(free_port())]
    failed = subprocess.run(serve_math, capture_output=True, text=True, timeout=120, env=env)
    assert (failed.returncode, failed.stderr) == (
        2,
        "error: math_verify is not installed; it comes with the 'math' extra: "
        "pip install 'reasonloop-core[math]'\n",
    )
    assert "tiny-llama" in _run([bin_dir / "reasonloop", "models"], timeout=120, env=env)
