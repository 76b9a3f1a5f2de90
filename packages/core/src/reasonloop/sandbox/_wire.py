"""Frames between a WorkerPool and its workers, on two private pipes.

Parent -> worker: one frame per chunk, `size` + pickle of [(index, pickled item), ...].
Worker -> parent: one frame per item, `size, index, kind code` + payload (the pickled value, or
an error message). The worker writes them in batches: at the end of a chunk, and before starting
an item if it last wrote FLUSH_INTERVAL_S ago or more (a write is one system call, which costs as
much as a cheap item). So every item starts within FLUSH_INTERVAL_S of the worker's last write,
which is what the parent's hard deadline counts from.

The progress file (8 bytes, shared) holds the index of the item the worker is running, or -1:
after a worker dies, the parent reads it to know which item killed it; the results the worker
had not written yet are computed again elsewhere.

Items and values are pickled one by one, so one that fails to (un)pickle fails alone.
"""

from __future__ import annotations

import struct

from reasonloop.sandbox.outcome import KINDS, Kind

FLUSH_INTERVAL_S = 0.02
PROGRESS = struct.Struct("<q")
IDLE = -1
CHUNK_HEADER = struct.Struct("<I")
RESULT_HEADER = struct.Struct("<IqB")
READY = -1  # index of the frame a worker sends once its target is loaded
INIT_FAILED = -2  # ... or instead, with the reason as payload
KIND_CODES: dict[Kind, int] = {kind: code for code, kind in enumerate(KINDS)}


def result_frame(index: int, kind: Kind, payload: bytes) -> bytes:
    return RESULT_HEADER.pack(len(payload), index, KIND_CODES[kind]) + payload


def chunk_frame(body: bytes) -> bytes:
    return CHUNK_HEADER.pack(len(body)) + body


def parse_results(buffer: bytearray) -> list[tuple[int, Kind, bytes]]:
    """Take the complete result frames off the start of `buffer`."""
    frames = []
    offset = 0
    while len(buffer) - offset >= RESULT_HEADER.size:
        size, index, code = RESULT_HEADER.unpack_from(buffer, offset)
        start = offset + RESULT_HEADER.size
        if len(buffer) < start + size:
            break
        frames.append((index, KINDS[code], bytes(buffer[start : start + size])))
        offset = start + size
    del buffer[:offset]
    return frames
