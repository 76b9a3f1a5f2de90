"""The prioritized replay buffer: (examples, program) experiences the policy learns from.

An entry is a task in miniature: some input/output examples and a program that maps each input
to its output. Entries come from three places: the mutation-initialized start ("mutation"),
policy samples that solve their target's demonstrations ("policy") and hindsight relabels of
the others ("relabel"). Sampling follows the CodeIt paper (arXiv 2402.04858): probability
proportional to the priority, the fraction of the origin task's demonstrations the program
solves. Relabelled programs mostly solve none, so every entry also gets a floor `epsilon`
added to its priority: without it they could never be replayed and relabeling would be moot;
with it they are replayed rarely (at epsilon = 0.01, 100 entries of priority 0 weigh as much
as one of priority 1).

Two ways to feed a learning stage: `mix` draws each batch with replacement (a fixed number of
steps per meta-iteration); `epoch` is the official implementation's scheme, where a
meta-iteration's learning stage goes once through a prioritized sample drawn *without*
replacement (there ~90k policy and ~10k mutation examples: the mix ratio is a parameter).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import random
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any, Literal, get_args

from codeit.data import Example
from codeit.grid import Grid, to_grid
from reasonloop.jsonl import read_jsonl

Source = Literal["mutation", "policy", "relabel"]
SOURCES: tuple[Source, ...] = get_args(Source)
DEFAULT_EPSILON = 0.01


@dataclass(frozen=True)
class ReplayEntry:
    task_id: str  # origin: the sampled-for target, or the seed's task (`seed@inputs` if lent)
    source: Source
    examples: tuple[Example, ...]
    program: str
    priority: float  # fraction of the origin task's demonstrations the program solves

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown replay source {self.source!r}; expected one of {SOURCES}")
        if not 0.0 <= self.priority <= 1.0:
            raise ValueError(f"priority must lie in [0, 1], got {self.priority}")
        if not self.examples:
            raise ValueError("a replay entry needs at least one example")

    @property
    def key(self) -> str:
        """Identity for deduplication: the program and the examples it maps, not the origin."""
        return experience_key(self.program, self.examples)

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "source": self.source,
            "program": self.program,
            "priority": self.priority,
            "examples": [[_rows(e.input), _rows(e.output)] for e in self.examples],
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ReplayEntry:
        examples = tuple(Example(to_grid(i), to_grid(o)) for i, o in obj["examples"])
        return cls(obj["task_id"], obj["source"], examples, obj["program"], obj["priority"])


def experience_key(program: str, examples: Sequence[Example]) -> str:
    """A stable digest of (program, examples); grids are tuples, so repr is canonical."""
    text = repr((program, tuple((e.input, e.output) for e in examples)))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _rows(grid: Grid) -> list[list[int]]:
    return [list(row) for row in grid]


class ReplayBuffer:
    """Deduplicated entries with prioritized (or, for the ablation, uniform) sampling.

    Adding an experience already present (same program, same examples) keeps one entry with
    the higher priority, so a program the policy samples in every meta-iteration is not
    replayed more for it.
    """

    def __init__(self, entries: Iterable[ReplayEntry] = (), *, epsilon: float = DEFAULT_EPSILON):
        if epsilon < 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon}")
        self.epsilon = epsilon
        self._entries: list[ReplayEntry] = []
        self._index: dict[str, int] = {}
        self._pools: dict[tuple[Source, ...], tuple[list[ReplayEntry], list[float]]] = {}
        self.add_all(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[ReplayEntry]:
        return iter(self._entries)

    def __contains__(self, entry: ReplayEntry) -> bool:
        return entry.key in self._index

    def add(self, entry: ReplayEntry) -> bool:
        """Add `entry`; False if it was already there (its priority is raised if lower)."""
        self._pools.clear()
        key = entry.key
        at = self._index.get(key)
        if at is None:
            self._index[key] = len(self._entries)
            self._entries.append(entry)
            return True
        if entry.priority > self._entries[at].priority:
            old = self._entries[at]
            self._entries[at] = ReplayEntry(
                old.task_id, old.source, old.examples, old.program, entry.priority
            )
        return False

    def add_all(self, entries: Iterable[ReplayEntry]) -> int:
        """Add several entries; returns how many were new."""
        return sum(self.add(entry) for entry in entries)

    def sample(
        self,
        k: int,
        rng: random.Random,
        *,
        prioritized: bool = True,
        sources: Sequence[Source] = SOURCES,
    ) -> list[ReplayEntry]:
        """`k` entries drawn with replacement from those of `sources`, with probability
        proportional to priority + epsilon, or uniformly when `prioritized` is False."""
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        if k == 0:
            return []
        pool, cumulative = self._pool(tuple(sources))
        if not pool:
            raise ValueError(f"the replay buffer holds no entries from {', '.join(sources)}")
        total = cumulative[-1]
        if not prioritized or total <= 0:  # ablation, or every priority and epsilon are 0
            return [pool[rng.randrange(len(pool))] for _ in range(k)]
        last = len(pool) - 1
        return [pool[bisect_right(cumulative, rng.random() * total, hi=last)] for _ in range(k)]

    def mix(
        self,
        k: int,
        rng: random.Random,
        *,
        policy_fraction: float,
        prioritized: bool = True,
    ) -> list[ReplayEntry]:
        """A training batch: round(k * policy_fraction) entries found by the policy (solved or
        relabelled), the rest from the mutation start; all from one side if the other is empty."""
        if not 0.0 <= policy_fraction <= 1.0:
            raise ValueError(f"policy_fraction must lie in [0, 1], got {policy_fraction}")
        learned: tuple[Source, ...] = ("policy", "relabel")
        has_learned = bool(self._pool(learned)[0])
        has_mutation = bool(self._pool(("mutation",))[0])
        n_learned = round(k * policy_fraction)
        if not has_mutation:
            n_learned = k
        elif not has_learned:
            n_learned = 0
        batch = self.sample(n_learned, rng, prioritized=prioritized, sources=learned)
        batch += self.sample(k - n_learned, rng, prioritized=prioritized, sources=("mutation",))
        rng.shuffle(batch)
        return batch

    def draw(
        self,
        k: int,
        rng: random.Random,
        *,
        prioritized: bool = True,
        sources: Sequence[Source] = SOURCES,
    ) -> list[ReplayEntry]:
        """`k` distinct entries of `sources` (all of them if there are fewer), drawn without
        replacement with probability proportional to priority + epsilon (Efraimidis-Spirakis
        keys: the k largest u^(1/w)), or uniformly when `prioritized` is False."""
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        pool, _ = self._pool(tuple(sources))
        if k >= len(pool):
            return list(pool)
        if not prioritized:
            return rng.sample(pool, k)

        def key(entry: ReplayEntry) -> float:
            weight = entry.priority + self.epsilon
            return math.log(1.0 - rng.random()) / weight if weight > 0 else -math.inf

        keyed = [(key(entry), n) for n, entry in enumerate(pool)]
        return [pool[n] for _, n in heapq.nlargest(k, keyed)]

    def epoch(
        self,
        size: int,
        rng: random.Random,
        *,
        policy_fraction: float,
        prioritized: bool = True,
    ) -> list[ReplayEntry]:
        """One learning stage's examples, in random order: round(size * policy_fraction)
        entries found by the policy and the rest from the mutation start, each side drawn
        without replacement (`draw`); a side with fewer entries than its share gives all."""
        if not 0.0 <= policy_fraction <= 1.0:
            raise ValueError(f"policy_fraction must lie in [0, 1], got {policy_fraction}")
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        n_learned = round(size * policy_fraction)
        chosen = self.draw(n_learned, rng, prioritized=prioritized, sources=("policy", "relabel"))
        chosen += self.draw(size - n_learned, rng, prioritized=prioritized, sources=("mutation",))
        rng.shuffle(chosen)
        return chosen

    def stats(self) -> dict[Source, dict[str, float]]:
        """Per source: how many entries, and their mean priority."""
        counts: Counter[str] = Counter()
        priority: defaultdict[str, float] = defaultdict(float)
        for entry in self._entries:
            counts[entry.source] += 1
            priority[entry.source] += entry.priority
        return {
            s: {
                "entries": counts[s],
                "mean_priority": priority[s] / counts[s] if counts[s] else 0.0,
            }
            for s in SOURCES
        }

    def dumps(self) -> str:
        """JSONL text, one entry a line (what a checkpoint's extra file holds)."""
        return "".join(json.dumps(e.to_json(), separators=(",", ":")) + "\n" for e in self)

    @classmethod
    def from_jsonl(cls, path: str | Path, *, epsilon: float = DEFAULT_EPSILON) -> ReplayBuffer:
        """The buffer that `dumps` wrote to `path`; a bad entry is named by its line."""
        entries = []
        for number, value in read_jsonl(path):
            try:
                entries.append(ReplayEntry.from_json(value))
            except (ValueError, KeyError, TypeError) as error:
                what = f"missing {error}" if isinstance(error, KeyError) else str(error)
                raise ValueError(f"{path}:{number}: not a replay entry: {what}") from None
        return cls(entries, epsilon=epsilon)

    def _pool(self, sources: tuple[Source, ...]) -> tuple[list[ReplayEntry], list[float]]:
        """The entries of `sources` and the running sums of their priority + epsilon, cached
        until the next add (sampling a large buffer many times then costs a bisection each)."""
        if sources not in self._pools:
            pool = [e for e in self._entries if e.source in sources]
            self._pools[sources] = pool, list(accumulate(e.priority + self.epsilon for e in pool))
        return self._pools[sources]
