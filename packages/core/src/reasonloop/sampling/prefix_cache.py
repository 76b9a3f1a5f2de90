"""Prompt prefixes' keys and values kept across requests (an LRU bounded in positions).

Requests that share a prefix -- the same system prompt, the same few-shot examples, a client
sending the n samples of one prompt as n requests -- need its keys and values computed once.
Prompts are stored whole; each is findable by every prefix whose length is a multiple of
`block` tokens (as in vLLM's automatic prefix caching), and the longest stored prefix wins.
The block is only the matching grain here (no memory is paged), so it is small: 4 tokens
reuse 28 of SmolLM2's ~30-token chat-template prefix where 16 reused 16.

A prefix is found by its chained block hash: block k's hash covers block k's tokens and block
k-1's hash, so one pass over a prompt gives the hashes of all its block-aligned prefixes
(O(prompt) to store or look up, whatever its length), and the index holds one 16-byte digest
per block instead of the prefix itself. The hash is keyed with a secret of this process (a
client cannot craft collisions), and a hit is still checked against the stored tokens, once.
The stored tensors are copies, so a cached prompt never keeps a batch's cache alive; the oldest
prompts are dropped once the positions kept exceed `max_tokens`.
"""

from __future__ import annotations

import hashlib
import secrets
from array import array
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from reasonloop.extras import requires

with requires("models"):
    import torch

Layers = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values [heads, length, dim]


@dataclass
class _Entry:
    ids: tuple[int, ...]
    layers: Layers
    digests: list[bytes]  # its block-aligned prefixes' chained hashes, shortest first


class PrefixCache:
    """Keys and values of recent prompts, found by their block-aligned prefixes."""

    def __init__(self, max_tokens: int, block: int = 4) -> None:
        if max_tokens < 1 or block < 1:
            raise ValueError("max_tokens and block must be >= 1")
        self.max_tokens = max_tokens
        self.block = block
        self._key = secrets.token_bytes(16)
        self._entries: OrderedDict[tuple[int, ...], _Entry] = OrderedDict()  # LRU order
        self._by_prefix: dict[bytes, _Entry] = {}  # a prefix's chained hash -> newest holder
        self.tokens = 0
        self.hits = 0  # prompt tokens served from the cache since start (its user counts)

    def _digests(self, ids: Sequence[int], blocks: int) -> Iterator[bytes]:
        """The chained hashes of the first `blocks` block-aligned prefixes of `ids`."""
        digest = b""
        for start in range(0, blocks * self.block, self.block):
            chunk = array("q", ids[start : start + self.block]).tobytes()
            digest = hashlib.blake2b(digest + chunk, digest_size=16, key=self._key).digest()
            yield digest

    def lookup(self, ids: Sequence[int]) -> tuple[int, Layers] | None:
        """The longest stored block-aligned prefix of `ids` shorter than `ids` (the last
        prompt token is always computed: its logits are the first sample's), as (length,
        per layer keys/values views of that length); None if there is none."""
        digests = list(self._digests(ids, (len(ids) - 1) // self.block))
        for blocks in range(len(digests), 0, -1):
            entry = self._by_prefix.get(digests[blocks - 1])
            length = blocks * self.block
            if entry is not None and entry.ids[:length] == tuple(ids[:length]):
                self._entries.move_to_end(entry.ids)
                return length, [(k[:, :length], v[:, :length]) for k, v in entry.layers]
        return None

    def store(self, ids: Sequence[int], layers: Layers) -> None:
        """Keep a prompt's keys/values (copied); prompts shorter than a block are not kept."""
        ids = tuple(ids)
        if len(ids) < self.block or len(ids) > self.max_tokens or ids in self._entries:
            return
        digests = list(self._digests(ids, len(ids) // self.block))
        entry = _Entry(ids, [(k.clone(), v.clone()) for k, v in layers], digests)
        self._entries[ids] = entry
        self.tokens += len(ids)
        for digest in digests:
            self._by_prefix[digest] = entry  # the newest prompt with this prefix
        while self.tokens > self.max_tokens:
            _, old = self._entries.popitem(last=False)
            self.tokens -= len(old.ids)
            for digest in old.digests:
                if self._by_prefix.get(digest) is old:
                    del self._by_prefix[digest]
