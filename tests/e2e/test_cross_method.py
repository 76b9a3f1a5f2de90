"""The three methods talking over gRPC, each in its own process on a free localhost port.

Two softcot runs of the tiny model (one with the math reward; one whose problems and rewards
come from the benchagents calendar server: its tasks and its Grade) are exported and served by
`reasonloop serve`; the Benchmark servers of softcot (math), codeit (ARC) and benchagents (a
calendar dataset made here) run beside them; one `reasonloop eval` matrix scores both served
models on all three. Every server is started by `reasonloop.launcher.Launcher`, and when a
launch ends, passed or failed, no process of any server's tree may be left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from reasonloop.launcher import LaunchConfig, Launcher, ServerSpec

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# One thread per process: several servers and a trainer share two cores.
ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
CALENDAR_TASKS = 4
MATH_TASKS = 4
ARC_TASKS = 3
EVAL_ARGS = ["--samples", "2", "--k", "1,2", "--max-new-tokens", "6", "--seed", "0"]

# A health-checked gRPC server with a child process of its own, up in a second (no torch).
FAMILY_SERVER = """
import subprocess, sys
from concurrent import futures
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
server = grpc.server(futures.ThreadPoolExecutor(2))
servicer = health.HealthServicer()
servicer.set("", health_pb2.HealthCheckResponse.SERVING)
health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
server.add_insecure_port("127.0.0.1:" + sys.argv[-1])
server.start()
server.wait_for_termination()
"""

TINY_RUN = """\
[model]
spec = "tiny-llama"
lora_rank = 4
lora_alpha = 8

[data]
train = "{train}"
levels = [0]
train_count = 8
test_count = 4

[thinking]
mode = "soft"
max_tokens = 3

[train]
steps = 2
prompts_per_step = 2
group_size = 2
micro_batch = 4
max_new_tokens = 5
checkpoint_every = 2
reward = "{reward}"
"""


def cli(package: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"{package}.cli", *args]


@contextmanager
def running_cli(command: list[str], log: Path, timeout_s: float = 300) -> Iterator[None]:
    """A CLI running in the background while the block runs; it must then end with status 0.
    If the block fails, the CLI (with its process group) is killed."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            env={**os.environ, **ENV},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield
            returncode = process.wait(timeout=timeout_s)
        except BaseException:  # not reaped yet, so its process group id is still its own
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    tail = log.read_text(errors="replace")[-3000:]
    assert returncode == 0, f"{' '.join(command[2:4])} exited with {returncode}:\n{tail}"


def run(command: list[str], log: Path) -> None:
    """A CLI run to completion (status 0), its output in `log`."""
    with running_cli(command, log):
        pass


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process alive now (zombies excluded)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[0] not in ("Z", "X"):
            parents[int(stat.parent.name)] = int(fields[1])
    return parents


def process_tree(roots: Iterable[int]) -> set[int]:
    """The roots and every live process descended from them."""
    parents = _parents()
    tree = {pid for pid in roots if pid in parents}
    grown = True
    while grown:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= children
        grown = bool(children)
    return tree


def survivors(pids: set[int], timeout_s: float = 15.0) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while (alive := pids & set(_parents())) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


@contextmanager
def launched(servers: list[ServerSpec], logs: Path) -> Iterator[Launcher]:
    """Servers up and healthy inside; afterwards, whatever happened inside, every process of
    every server's tree is gone (the tree is taken when they are up and again before stop)."""
    launcher = Launcher(LaunchConfig(server=servers), logs_dir=logs).start()
    tree = process_tree(launcher.pids.values())
    try:
        yield launcher
    finally:
        tree |= process_tree(launcher.pids.values())
        launcher.stop()
        left = survivors(tree)
        assert not left, f"processes left after stop: {sorted(left)}"


def server(name: str, command: list[str], port: int) -> ServerSpec:
    return ServerSpec(
        name=name,
        command=[*command, "--port", str(port)],
        port=port,
        env=ENV,
        startup_timeout_s=240,
        stop_grace_s=10,
    )


def grpc(launcher: Launcher, name: str) -> str:
    return f"grpc://{launcher.addresses[name]}"


@dataclass(frozen=True)
class Softcot:
    """The files of one tiny softcot run: its config, run directory and HF export."""

    config: Path
    run: Path
    export: Path

    @classmethod
    def write(cls, workdir: Path, name: str, train: str, reward: str) -> Softcot:
        config = workdir / f"{name}.toml"
        config.write_text(TINY_RUN.format(train=train, reward=reward))
        return cls(config, workdir / f"{name}-run", workdir / f"{name}-export")

    def train(self) -> list[str]:
        return cli("softcot", "train", "--config", str(self.config), "--run-dir", str(self.run))

    def export_command(self) -> list[str]:
        return cli("softcot", "export", "--run-dir", str(self.run), "--out", str(self.export))

    def serve(self, name: str, port: int) -> ServerSpec:
        return server(name, cli("reasonloop", "serve", "--model", str(self.export),
                                "--model-name", name), port)  # fmt: skip


@dataclass(frozen=True)
class CrossMethod:
    """What the module's one pass through the three methods left behind."""

    math_run: Softcot
    calendar_run: Softcot
    calendar_address: str
    report: dict


@pytest.fixture(scope="module")
def cross_method(
    tmp_path_factory: pytest.TempPathFactory, free_port: Callable[[], int]
) -> CrossMethod:
    """Two softcot runs (math reward; the calendar server's tasks and Grade), exported and
    served, evaluated in one `reasonloop eval` matrix on the three Benchmark servers.

    Independent steps overlap (two cores, each process spends most of its time importing
    torch); every server is stopped, and checked gone, before the tests look at the results.
    """
    work = tmp_path_factory.mktemp("cross-method")
    logs = work / "logs"
    logs.mkdir()
    calendar = work / "calendar"
    # The agents' LLM only answers in the evaluation stage: no rewrites, no LLM checks.
    create = ["create", "calendar", "--auto", "--run-dir", str(calendar), "--count",
              str(CALENDAR_TASKS), "--backend", "tiny-llama", "--no-rewrite",
              "--llm-checks", "off", "--samples", "1", "--limit", "1",
              "--max-new-tokens", "4"]  # fmt: skip
    arc = ["--source", "arc1-eval", "--limit", str(ARC_TASKS), "--workers", "1"]
    benchmark_servers = [
        server("math", cli("softcot", "serve-benchmark", "--limit", str(MATH_TASKS)), free_port()),
        server("arc", cli("codeit", "serve-benchmark", *arc), free_port()),
        server(
            "calendar",
            cli("benchagents", "serve-benchmark", "--run-dir", str(calendar)),
            free_port(),
        ),
    ]
    math_run = Softcot.write(work, "softcot-math", train="builtin:arith", reward="math")
    with ExitStack() as servers:
        with running_cli(math_run.train(), logs / "train-math.log"):
            run(cli("benchagents", *create), logs / "create-calendar.log")
        with running_cli(math_run.export_command(), logs / "export-math.log"):
            benchmarks = servers.enter_context(launched(benchmark_servers, logs))
        address = grpc(benchmarks, "calendar")
        calendar_run = Softcot.write(work, "softcot-calendar", train=address, reward=address)
        with running_cli(calendar_run.train(), logs / "train-calendar.log"):
            math_model = servers.enter_context(
                launched([math_run.serve("softcot-math", free_port())], logs / "softcot-math")
            )
        run(calendar_run.export_command(), logs / "export-calendar.log")
        calendar_model = servers.enter_context(
            launched(
                [calendar_run.serve("softcot-calendar", free_port())], logs / "softcot-calendar"
            )
        )
        models = [f"--model={grpc(math_model, 'softcot-math')}",
                  f"--model={grpc(calendar_model, 'softcot-calendar')}"]  # fmt: skip
        targets = [f"--benchmark={grpc(benchmarks, b)}" for b in ("math", "arc", "calendar")]
        run(cli("reasonloop", "eval", *models, *targets, *EVAL_ARGS, "--out", str(work)),
            logs / "eval.log")  # fmt: skip
    report = json.loads((work / "matrix.json").read_text())  # `--out DIR` writes DIR/matrix.json
    assert (work / "matrix.png").is_file()
    return CrossMethod(math_run, calendar_run, address, report)


def test_every_served_model_on_every_benchmark(cross_method: CrossMethod) -> None:
    """One report cell per (model, benchmark), each over all the served tasks, its summary
    the mean of its tasks' (the tiny random models mostly score 0, which is no failure here)."""
    report = cross_method.report
    assert report["models"] == ["softcot-math", "softcot-calendar"]
    assert report["benchmarks"] == ["softcot-builtin:arith-test", "arc:arc1-eval", "calendar-v1"]
    cells = {(r["model"], r["benchmark"]): r for r in report["reports"]}
    assert len(cells) == 6
    tasks = {"softcot-builtin:arith-test": MATH_TASKS, "arc:arc1-eval": ARC_TASKS,
             "calendar-v1": CALENDAR_TASKS}  # fmt: skip
    for (_, benchmark), cell in cells.items():
        assert len(cell["tasks"]) == tasks[benchmark] and cell["samples"] == 2
        for ci in (cell["pass_at_k"]["pass@1"], cell["pass_at_k"]["pass@2"], cell["mean_score"]):
            assert 0.0 <= ci["low"] <= ci["mean"] <= ci["high"] <= 1.0
        assert all(t["samples"] == 2 for t in cell["tasks"])
        task_means = [t["mean_score"] for t in cell["tasks"]]
        assert cell["mean_score"]["mean"] == pytest.approx(sum(task_means) / len(task_means))
    for k in ("pass@1", "pass@2"):
        grid = report["matrix"][k]
        assert len(grid) == 2 and all(len(row) == 3 for row in grid)


@pytest.mark.parametrize("run_name", ["math_run", "calendar_run"])
def test_softcot_runs_trained_and_exported(cross_method: CrossMethod, run_name: str) -> None:
    softcot: Softcot = getattr(cross_method, run_name)
    log = (softcot.run / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [1, 2]
    assert (softcot.export / "config.json").is_file()
    assert (softcot.export / "model.safetensors").is_file()


def test_calendar_run_took_its_problems_and_rewards_from_the_server(
    cross_method: CrossMethod,
) -> None:
    """The calendar server posed the training problems and graded them: the references were
    its task ids (an id it does not serve fails the Grade call, and so the run); that the
    server's grades reach the reward is pinned by tests/softcot/test_softcot_remote_problems."""
    config = json.loads((cross_method.calendar_run.run / "run.json").read_text())
    assert config["data"]["train"] == config["train"]["reward"] == cross_method.calendar_address


def test_a_failing_check_inside_leaves_no_process(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    spec = server("family", [sys.executable, "-c", FAMILY_SERVER], free_port())
    tree: set[int] = set()
    with (
        pytest.raises(AssertionError, match="a check that fails"),
        launched([spec], tmp_path) as running,
    ):
        tree = process_tree(running.pids.values())
        assert len(tree) == 2  # the server and its child
        raise AssertionError("a check that fails")
    assert not survivors(tree)
