"""Atomic file writes: a crash leaves the old file or the new one, never half of one.

Whatever a run resumes from or a person reads afterwards (state, buffers, reports, plots) is
written to a temporary file in the target's directory, flushed to disk, and renamed over the
target; a rename within one directory is atomic. The file then gets the mode a plain write
would give it (0666 less the umask, or the mode of the file it replaces), not the 0600 of a
temporary file. Torch-free, so light modules can use it.
A process killed mid-write leaves its temporary file (or a checkpoint's directory) behind;
`remove_leftovers` is what a resumed run calls to clear them.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

TMP_SUFFIX = ".tmp"  # of every temporary file or directory: what `remove_leftovers` removes

log = logging.getLogger("reasonloop.recovery")  # what a resumed run cleared; CLIs print it


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write to; it replaces `path` when the block ends without error,
    and is removed when it raises. Parent directories are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as written:  # on disk before the rename makes it visible
            os.fsync(written.fileno())
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = new_file_mode()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def new_file_mode() -> int:
    """The mode `open(path, "w")` gives a new file: 0666 less the process's umask."""
    return 0o666 & ~_umask()


def new_dir_mode() -> int:
    """The mode `mkdir` gives a new directory: 0777 less the umask (for a directory made
    with `tempfile.mkdtemp`, 0700, and then renamed into place)."""
    return 0o777 & ~_umask()


def _umask() -> int:
    """The umask, read from /proc where Linux shows it; elsewhere set and put back at once
    (POSIX has no call that only reads it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8) to `path` atomically; returns the path."""
    with atomic_path(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
    return Path(path)


LEFTOVERS = (f"**/.*{TMP_SUFFIX}",)  # glob patterns of what interrupted writes leave


def remove_leftovers(directory: str | Path, patterns: Sequence[str] = LEFTOVERS) -> list[Path]:
    """Remove what interrupted atomic writes left under `directory` (hidden `.NAME.*.tmp`
    files, and directories such as a checkpoint's; `patterns` may name more), saying so in
    one logged line; returns them. Only for a directory no live process writes to: a resumed
    run's."""
    directory = Path(directory)
    found = sorted(
        {p for pattern in patterns for p in directory.glob(pattern) if not p.is_symlink()}
    )
    for path in found:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if found:
        names = ", ".join(str(p.relative_to(directory)) for p in found[:3])
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        log.warning("%s: removed %s%s, left by a crash mid-write", directory, names, more)
    return found
