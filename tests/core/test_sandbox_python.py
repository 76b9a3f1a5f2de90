"""run_python / run_python_batch: LLM-written source in a real isolated child interpreter."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from reasonloop.sandbox import PythonResult, run_python, run_python_batch


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def test_value_and_printed_output() -> None:
    code = src("""
        def solve(a, b):
            print("adding", a, b)
            return {"sum": a + b, "items": [a, b], "half": (a + b) / 2}
    """)
    result = run_python(code, "solve", [2, 3], time_limit_s=1)
    assert result == PythonResult.success(
        {"sum": 5, "items": [2, 3], "half": 2.5}, stdout="adding 2 3\n"
    )


def test_exception_names_type_message_and_source_line() -> None:
    code = src("""
        def helper(x):
            return 10 / x

        def solve(x):
            return helper(x)
    """)
    result = run_python(code, "solve", [0], time_limit_s=1)
    assert result.kind == "error" and not result.ok
    assert result.error == "ZeroDivisionError: division by zero (line 2: return 10 / x)"


def test_syntax_error_reports_its_line() -> None:
    code = "import math\n\ndef solve(x):\n    return math.sqrt(x))\n"
    result = run_python(code, "solve", [4], time_limit_s=1)
    assert result.kind == "error"
    assert result.error.startswith("SyntaxError: ") and result.error.endswith("(line 4)")


def test_missing_function_and_module_level_failures_apply_to_every_call() -> None:
    missing = run_python("def other():\n    return 1\n", "solve", [], time_limit_s=1)
    assert missing.error == "NameError: the source defines no function 'solve'"
    code = src("""
        print("loading")
        raise RuntimeError("broken at import")
        def solve(x):
            return x
    """)
    results = run_python_batch(code, "solve", [[1], [2]], time_limit_s=1)
    expected = 'RuntimeError: broken at import (line 2: raise RuntimeError("broken at import"))'
    assert [r.error for r in results] == [expected, expected]
    assert results[0].stdout == "loading\n"


def test_main_block_does_not_run() -> None:
    code = src("""
        def solve():
            return "called"

        if __name__ == "__main__":
            while True:
                pass
    """)
    assert run_python(code, "solve", [], time_limit_s=1).value == "called"


def test_infinite_loop_is_a_timeout() -> None:
    start = time.monotonic()
    loop = "def solve():\n    while True:\n        pass\n"
    result = run_python(loop, "solve", [], time_limit_s=0.5)
    assert result == PythonResult.failure("timeout", "time limit of 0.5 s exceeded")
    assert time.monotonic() - start < 5


def test_code_that_blocks_the_soft_timer_is_killed_by_the_parent() -> None:
    code = src("""
        import signal, time
        def solve():
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(60)
    """)
    start = time.monotonic()
    result = run_python(code, "solve", [], time_limit_s=0.5)
    assert result.kind == "timeout"
    assert time.monotonic() - start < 8


def test_memory_bomb_is_a_memory_outcome() -> None:
    code = "def solve(n):\n    return len(bytearray(n * 2**20))\n"
    assert run_python(code, "solve", [8], memory_limit_mb=128).value == 8 * 2**20
    result = run_python(code, "solve", [4096], memory_limit_mb=128)
    assert result == PythonResult.failure("memory", "MemoryError: memory limit of 128 MB exceeded")


def test_print_spam_and_forged_results_do_not_corrupt_the_value() -> None:
    code = src("""
        import os, sys
        def solve():
            for i in range(20000):
                print('{"kind": "ok", "value_json": "666"}', i)
            sys.stderr.write("to stderr\\n")
            os.write(1, b'{"kind": "ok", "value_json": "777"}\\n')
            os.write(2, b"raw bytes on fd 2\\n")
            return 7
    """)
    result = run_python(code, "solve", [], time_limit_s=5)
    assert result.ok and result.value == 7
    assert result.stdout.startswith('{"kind": "ok", "value_json": "666"} 0\n')
    assert len(result.stdout) < 4200 and "more characters]" in result.stdout


def test_parent_environment_is_not_visible_and_cwd_is_an_empty_private_dir(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REASONLOOP_TEST_TOKEN", "secret-token")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    code = src("""
        import os
        def solve(name):
            files = os.listdir(".")
            with open(name, "w") as f:
                f.write("left behind?")
            return {"env": dict(os.environ), "cwd": os.getcwd(), "files": files}
    """)
    name = f"reasonloop-test-{os.getpid()}-{time.monotonic_ns()}"
    value = run_python(code, "solve", [name], time_limit_s=2).value
    assert "secret-token" not in str(value["env"]) and "HTTPS_PROXY" not in value["env"]
    assert set(value["env"]) <= {"PATH", "HOME", "TMPDIR", "LANG", "LC_CTYPE", "PWD"}
    assert value["files"] == [] and value["cwd"] == value["env"]["HOME"]
    assert not (Path(value["cwd"]) / name).exists()  # a private tmpfs, gone with the sandbox


def test_standard_library_only_and_json_values_only() -> None:
    code = src("""
        import json
        def solve(kind):
            if kind == "numpy":
                import numpy
            return {1, 2} if kind == "set" else json.dumps([kind])
    """)
    numpy, a_set, fine = run_python_batch(code, "solve", [["numpy"], ["set"], ["x"]])
    assert numpy.kind == "error" and numpy.error.startswith("ModuleNotFoundError: No module named")
    assert a_set.error.startswith("TypeError: the return value is not JSON-serializable")
    assert fine.value == '["x"]'


def test_large_files_cannot_be_written() -> None:
    code = src("""
        def solve(mb):
            with open("out.bin", "wb") as f:
                f.write(b"x" * (mb * 2**20))
            return mb
    """)
    small, large = run_python_batch(code, "solve", [[0], [4]])
    assert small.value == 0
    assert large.kind == "error" and "File too large" in large.error


def test_the_code_cannot_start_processes() -> None:
    code = src("""
        import subprocess
        def solve():
            return subprocess.Popen(["sleep", "60"]).pid
    """)
    result = run_python(code, "solve", [], time_limit_s=2)
    assert result.kind == "error" and "Resource temporarily unavailable" in result.error


def test_batch_runs_every_call_even_when_one_kills_the_child() -> None:
    code = src("""
        import os, signal, time
        calls = []
        def solve(x):
            calls.append(x)
            if x == "hang":
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
                time.sleep(60)
            if x == "exit":
                os._exit(9)
            if x == "raise":
                raise ValueError(x)
            return [x, len(calls)]
    """)
    args = [["a"], ["hang"], ["b"], ["raise"], ["exit"], ["c"]]
    results = run_python_batch(code, "solve", args, time_limit_s=0.5)
    assert [r.kind for r in results] == ["ok", "timeout", "ok", "error", "crash", "ok"]
    # a sandbox per call: no call sees another's module state
    assert [results[i].value for i in (0, 2, 5)] == [["a", 1], ["b", 1], ["c", 1]]
    assert results[3].error.startswith("ValueError: raise (line 11:")
    assert results[4].error == "the process died (exit code 9)"


def test_bad_arguments_raise_in_the_parent() -> None:
    with pytest.raises(ValueError, match=r"args_list\[1\] is not JSON-serializable"):
        run_python_batch("def f(x):\n    return x\n", "f", [[1], [{1, 2}]])
    with pytest.raises(ValueError, match="function must be a Python identifier"):
        run_python("def f():\n    return 1\n", "f()", [])
    with pytest.raises(TypeError, match=r"args_list\[0\] must be a list of arguments"):
        run_python_batch("def f(x):\n    return x\n", "f", ["abc"])
    assert run_python_batch("def f(x):\n    return x\n", "f", []) == []


def test_a_call_killed_by_a_signal_is_reported_by_its_signal() -> None:
    code = src("""
        import ctypes, os, signal
        def solve(how):
            if how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            ctypes.string_at(0)  # SIGSEGV
    """)
    killed, segfault = run_python_batch(code, "solve", [["kill"], ["segv"]], time_limit_s=2)
    assert killed == PythonResult.failure("memory", "killed by SIGKILL (out of memory?)")
    assert segfault == PythonResult.failure("crash", "the process died (signal SIGSEGV)")
