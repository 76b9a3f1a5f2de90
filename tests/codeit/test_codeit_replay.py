"""The replay buffer: deduplication, prioritized and uniform sampling, mixing, JSONL round trip."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from codeit.data import Example
from codeit.replay import ReplayBuffer, ReplayEntry

# Critical values of the chi-square distribution at p = 0.001 (df = 3 and df = 4).
CHI2_CRITICAL = {3: 16.27, 4: 18.47}


def entry(n: int, priority: float, source: str = "policy", program: str = "") -> ReplayEntry:
    """An entry whose single example is unique to `n`."""
    example = Example(((n % 10,),), ((n // 10 % 10, n % 10),))
    return ReplayEntry(
        f"task{n}", source, (example,), program or f"x1 = identity(I)  # {n}", priority
    )


def chi_square(observed: list[int], probabilities: list[float]) -> float:
    total = sum(observed)
    return sum(
        (o - total * p) ** 2 / (total * p) for o, p in zip(observed, probabilities, strict=True)
    )


def test_prioritized_sampling_follows_priorities() -> None:
    priorities = [0.0, 0.25, 0.5, 1.0]
    entries = [entry(n, p) for n, p in enumerate(priorities)]
    buffer = ReplayBuffer(entries, epsilon=0.01)
    draws = buffer.sample(20_000, random.Random(0))
    observed = [sum(d is e for d in draws) for e in entries]
    weights = [p + 0.01 for p in priorities]
    expected = [w / sum(weights) for w in weights]
    assert chi_square(observed, expected) < CHI2_CRITICAL[3], observed
    # The floor lets a priority-0 entry appear, about 20000 * 0.01 / 1.79 = 112 times.
    assert 60 < observed[0] < 170
    # And the fitted frequencies are clearly not uniform.
    assert chi_square(observed, [0.25] * 4) > 1000


def test_uniform_sampling_ignores_priorities() -> None:
    priorities = [0.0, 0.0, 0.1, 0.9, 1.0]
    entries = [entry(n, p) for n, p in enumerate(priorities)]
    buffer = ReplayBuffer(entries)
    draws = buffer.sample(10_000, random.Random(1), prioritized=False)
    observed = [sum(d is e for d in draws) for e in entries]
    assert chi_square(observed, [0.2] * 5) < CHI2_CRITICAL[4], observed


def test_sampling_is_reproducible_with_a_seed() -> None:
    buffer = ReplayBuffer([entry(n, n / 10) for n in range(10)])
    first = buffer.sample(50, random.Random(7))
    assert first == buffer.sample(50, random.Random(7))
    assert first != buffer.sample(50, random.Random(8))


def test_zero_epsilon_never_draws_zero_priority() -> None:
    zero, one = entry(0, 0.0), entry(1, 1.0)
    draws = ReplayBuffer([zero, one], epsilon=0.0).sample(2000, random.Random(0))
    assert zero not in draws and len(draws) == 2000


def test_duplicates_are_merged_keeping_the_higher_priority() -> None:
    buffer = ReplayBuffer()
    low = entry(3, 0.2, source="relabel", program="p")
    assert buffer.add(low)
    high = ReplayEntry("other", "policy", low.examples, "p", 0.8)
    assert not buffer.add(high)
    assert len(buffer) == 1
    (kept,) = buffer
    assert kept.priority == 0.8 and kept.source == "relabel"  # first origin, best priority
    assert not buffer.add(low)
    assert next(iter(buffer)).priority == 0.8
    # Same examples, another program: a different experience.
    assert buffer.add(ReplayEntry("t", "policy", low.examples, "q", 0.8))
    assert len(buffer) == 2


def test_priority_update_changes_sampling() -> None:
    a, b = entry(0, 0.0, program="a"), entry(1, 1.0, program="b")
    buffer = ReplayBuffer([a, b], epsilon=0.0)
    assert all(d.program == "b" for d in buffer.sample(100, random.Random(0)))
    buffer.add(ReplayEntry(a.task_id, a.source, a.examples, "a", 1.0))
    draws = buffer.sample(1000, random.Random(0))
    assert 400 < sum(d.program == "a" for d in draws) < 600


def test_mix_takes_the_policy_share_from_policy_experiences() -> None:
    mutations = [entry(n, 1.0, source="mutation") for n in range(10)]
    learned = [entry(10 + n, 0.5, source=s) for n, s in enumerate(["policy", "relabel"] * 5)]
    buffer = ReplayBuffer(mutations + learned)
    batch = buffer.mix(40, random.Random(0), policy_fraction=0.25)
    assert len(batch) == 40
    assert sum(e.source == "mutation" for e in batch) == 30
    assert {e.source for e in batch} == {"mutation", "policy", "relabel"}
    # One side empty: the whole batch comes from the other.
    only_mutation = ReplayBuffer(mutations)
    batch = only_mutation.mix(8, random.Random(0), policy_fraction=0.5)
    assert len(batch) == 8 and all(e.source == "mutation" for e in batch)
    with pytest.raises(ValueError, match="policy_fraction"):
        buffer.mix(4, random.Random(0), policy_fraction=1.5)


def test_sampling_an_empty_source_is_an_error() -> None:
    buffer = ReplayBuffer([entry(0, 1.0, source="mutation")])
    with pytest.raises(ValueError, match="no entries from policy"):
        buffer.sample(1, random.Random(0), sources=("policy",))
    assert buffer.sample(0, random.Random(0), sources=("policy",)) == []


def test_stats_by_source() -> None:
    buffer = ReplayBuffer(
        [
            entry(0, 1.0, "mutation"),
            entry(1, 0.5, "policy"),
            entry(2, 0.0, "relabel"),
            entry(3, 1.0, "policy"),
        ]
    )
    stats = buffer.stats()
    assert stats["mutation"] == {"entries": 1, "mean_priority": 1.0}
    assert stats["policy"] == {"entries": 2, "mean_priority": 0.75}
    assert stats["relabel"] == {"entries": 1, "mean_priority": 0.0}


def test_jsonl_round_trip(tmp_path: Path) -> None:
    buffer = ReplayBuffer(
        [entry(n, n / 20, ["mutation", "policy", "relabel"][n % 3]) for n in range(20)]
    )
    path = tmp_path / "buffer.jsonl"
    path.write_text(buffer.dumps())  # as a checkpoint's extra file holds it
    loaded = ReplayBuffer.from_jsonl(path)
    assert list(loaded) == list(buffer)
    assert loaded.sample(30, random.Random(3)) == buffer.sample(30, random.Random(3))
    assert loaded.dumps() == buffer.dumps()


def test_bad_entries_and_files_give_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="priority must lie in"):
        entry(0, 1.5)
    with pytest.raises(ValueError, match="unknown replay source"):
        entry(0, 0.5, source="oracle")
    bad = tmp_path / "bad.jsonl"
    good_line = ReplayBuffer([entry(0, 1.0)]).dumps()
    bad.write_text(good_line + '{"task_id": "t"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not a replay entry: missing 'examples'"):
        ReplayBuffer.from_jsonl(bad)
    bad.write_text(good_line.replace('"priority":1.0', '"priority":3'))
    with pytest.raises(ValueError, match="jsonl:1: not a replay entry: priority must lie in"):
        ReplayBuffer.from_jsonl(bad)
    with pytest.raises(ValueError, match=r"missing\.jsonl: cannot read"):
        ReplayBuffer.from_jsonl(tmp_path / "missing.jsonl")


def test_an_epoch_draws_without_replacement_by_priority_with_the_mix_ratio() -> None:
    learned = [entry(n, 1.0 if n < 20 else 0.0) for n in range(100)]
    mutated = [entry(n, 1.0, source="mutation") for n in range(100, 150)]
    buffer = ReplayBuffer([*learned, *mutated], epsilon=0.01)
    rng = random.Random(0)
    hits = [0] * 100
    for _ in range(200):
        epoch = buffer.epoch(40, rng, policy_fraction=0.75)
        assert len(epoch) == 40 and len({e.key for e in epoch}) == 40  # no entry twice
        assert sum(e.source == "mutation" for e in epoch) == 10
        for e in epoch:
            if e.source == "policy":
                hits[int(e.task_id[4:])] += 1
    # 30 of 100 learned entries per epoch: the 20 of priority 1 are (nearly) always in
    assert min(hits[:20]) > 190 and max(hits[20:]) < 60
    # uniform: every learned entry is equally likely, 30 of 100 = 60 of 200 epochs
    uniform = [0] * 100
    for _ in range(200):
        for e in buffer.epoch(40, rng, policy_fraction=0.75, prioritized=False):
            if e.source == "policy":
                uniform[int(e.task_id[4:])] += 1
    assert 45 < sum(uniform[:20]) / 20 < 75 and 45 < sum(uniform[20:]) / 80 < 75
    # a side smaller than its share gives all it has
    assert len(buffer.epoch(1000, rng, policy_fraction=0.5)) == 100 + 50
