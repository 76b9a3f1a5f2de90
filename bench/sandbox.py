"""The price of run_python's OS isolation: one call in the bubblewrap + seccomp sandbox vs the
same call as a plain subprocess (what run_python did before; what it still does on a host
without bwrap after REASONLOOP_UNSAFE_NO_SANDBOX=1).

The work is a typical described-domain checker call (regex, json, a few checks). The two modes
alternate call by call, so a machine that gets busier or quieter affects both alike; the
figures are medians over the rounds, and the ratio is sandboxed / plain.

    uv run python bench/sandbox.py               # 30 rounds
    uv run python bench/sandbox.py --rounds 100
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

from reasonloop.sandbox import UnsafeSandboxWarning, run_python
from reasonloop.sandbox.isolation import BWRAP_ENV, UNSAFE_ENV

CHECKER = """
import json, re

def check(instance, answer):
    words = re.findall(r"[a-z]+", answer.lower())
    return [
        ["mentions", instance["word"] in words, json.dumps(sorted(set(words)))],
        ["short", len(answer) <= instance["max_chars"], f"{len(answer)} chars"],
    ]
"""
ARGS = [{"word": "monday", "max_chars": 80}, "The meeting is on Monday at 10."]


def timed_call(sandboxed: bool) -> float:
    """Seconds for one call; the plain mode is the opt-out on a host whose bwrap is missing."""
    saved = {name: os.environ.get(name) for name in (BWRAP_ENV, UNSAFE_ENV)}
    if not sandboxed:
        os.environ[BWRAP_ENV], os.environ[UNSAFE_ENV] = "/nonexistent/bwrap", "1"
    try:
        started = time.perf_counter()
        result = run_python(CHECKER, "check", ARGS, time_limit_s=5)
        elapsed = time.perf_counter() - started
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if not result.ok or not all(check[1] for check in result.value):
        raise SystemExit(f"the checker failed ({'sandboxed' if sandboxed else 'plain'}): {result}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    warnings.simplefilter("ignore", UnsafeSandboxWarning)
    timed_call(True), timed_call(False)  # warm: the sandbox check, the page cache
    plain, sandboxed = [], []
    for _ in range(rounds):
        plain.append(timed_call(False))
        sandboxed.append(timed_call(True))
    p, s = statistics.median(plain), statistics.median(sandboxed)
    print(f"one checker call, median of {rounds} interleaved rounds")
    print(f"  plain subprocess (rlimits only): {p * 1000:7.1f} ms")
    print(f"  bubblewrap + seccomp sandbox:    {s * 1000:7.1f} ms")
    print(f"  sandboxed / plain:               {s / p:7.2f}x   (+{(s - p) * 1000:.1f} ms a call)")


if __name__ == "__main__":
    main()
