"""reasonloop.cache.build_once: two processes that ask for one cache entry at once build it once.

The real case (two processes converting the SmolLM2 GGUF, ~25 s) is an `e2e` test in
tests/core/test_models.py; here the build is a short one, so the lock and the second
process's wait are what the test measures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

# Each process says it is ready, waits for the `go` file, then asks for the entry; a build
# takes 1 s, records its process id and writes the `config.json` that marks an entry as done.
SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from reasonloop.cache import build_once

    root = Path(sys.argv[1])

    def build(staging: Path) -> None:
        staging.mkdir()
        with (root / "builds").open("a") as log:
            log.write(f"{os.getpid()}\\n")
        time.sleep(1)
        (staging / "config.json").write_text("{}")

    (root / f"ready-{os.getpid()}").touch()
    while not (root / "go").exists():
        time.sleep(0.01)
    print(build_once(root / "cache" / "entry", build, prefix=".building-"))
    """
)


def test_two_processes_asking_at_once_build_one_entry(tmp_path: Path) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(tmp_path)],
            env={**os.environ, "REASONLOOP_CACHE": str(tmp_path / "cache")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 2:
        assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (tmp_path / "go").touch()
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err for _, err in outputs]
    entry = tmp_path / "cache" / "entry"
    assert [out.strip() for out, _ in outputs] == [str(entry)] * 2
    assert len((tmp_path / "builds").read_text().splitlines()) == 1  # the other one waited
    assert (entry / "config.json").is_file()
    assert sorted(p.name for p in entry.parent.iterdir()) == ["entry", "entry.lock"]
