"""Prompt prefixes' keys and values kept across requests (an LRU bounded in positions).

Requests that share a prefix -- the same system prompt, the same few-shot examples, a client
sending the n samples of one prompt as n requests -- need its keys and values computed once.
Prompts are stored whole; each is findable by every prefix whose length is a multiple of
`block` tokens (as in vLLM's automatic prefix caching), so a lookup costs one hash per block of
the new prompt, and the longest stored prefix wins. The stored tensors are copies, so a cached
prompt never keeps a batch's cache alive; the oldest prompts are dropped once the positions
kept exceed `max_tokens`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from reasonloop.extras import requires

with requires("models"):
    import torch

Layers = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values [heads, length, dim]


@dataclass
class _Entry:
    ids: tuple[int, ...]
    layers: Layers


class PrefixCache:
    """Keys and values of recent prompts, found by their block-aligned prefixes."""

    def __init__(self, max_tokens: int, block: int = 16) -> None:
        if max_tokens < 1 or block < 1:
            raise ValueError("max_tokens and block must be >= 1")
        self.max_tokens = max_tokens
        self.block = block
        self._entries: OrderedDict[tuple[int, ...], _Entry] = OrderedDict()  # LRU order
        self._by_prefix: dict[tuple[int, ...], _Entry] = {}
        self.tokens = 0
        self.hits = 0  # prompt tokens served from the cache since start

    def lookup(self, ids: Sequence[int]) -> tuple[int, Layers] | None:
        """The longest stored block-aligned prefix of `ids` shorter than `ids` (the last
        prompt token is always computed: its logits are the first sample's), as (length,
        per layer keys/values views of that length); None if there is none."""
        ids = tuple(ids)
        for blocks in range((len(ids) - 1) // self.block, 0, -1):
            length = blocks * self.block
            entry = self._by_prefix.get(ids[:length])
            if entry is not None:
                self._entries.move_to_end(entry.ids)
                self.hits += length
                return length, [(k[:, :length], v[:, :length]) for k, v in entry.layers]
        return None

    def store(self, ids: Sequence[int], layers: Layers) -> None:
        """Keep a prompt's keys/values (copied); prompts shorter than a block are not kept."""
        ids = tuple(ids)
        if len(ids) < self.block or len(ids) > self.max_tokens or ids in self._entries:
            return
        entry = _Entry(ids, [(k.clone(), v.clone()) for k, v in layers])
        self._entries[ids] = entry
        self.tokens += len(ids)
        for end in range(self.block, len(ids) + 1, self.block):
            self._by_prefix[ids[:end]] = entry  # the newest prompt with this prefix
        while self.tokens > self.max_tokens:
            _, old = self._entries.popitem(last=False)
            self.tokens -= len(old.ids)
            for end in range(self.block, len(old.ids) + 1, self.block):
                if self._by_prefix.get(old.ids[:end]) is old:
                    del self._by_prefix[old.ids[:end]]
