"""Type-aware mutation and the mutation-initialized buffer, run through the real sandbox."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import pytest

from codeit.data import ArcTask, Example
from codeit.execution import ProgramRunner, run_job
from codeit.mutation import (
    MUTATION_KINDS,
    MUTATION_WEIGHTS,
    MutationSource,
    canonical,
    drop_reason,
    mutate,
)
from codeit.program import check_types, parse
from codeit.seeds import SEED_PROGRAMS

G1 = ((1, 0, 0), (2, 0, 0))
G2 = ((0, 3), (0, 4), (5, 0))
G3 = ((6, 6, 0), (7, 0, 0), (0, 0, 8))


@pytest.fixture(scope="module")
def runner() -> Iterator[ProgramRunner]:
    with ProgramRunner(workers=2, time_limit_s=1.0) as runner:
        yield runner


@pytest.mark.parametrize("kind", MUTATION_KINDS)
def test_each_kind_applies_to_most_seeds(kind: str) -> None:
    rng = random.Random(0)
    changed = 0
    for source in SEED_PROGRAMS.values():
        seed = parse(source)
        mutants = [mutate(seed, rng, kinds=(kind,)) for _ in range(4)]
        for mutant in filter(None, mutants):
            text = mutant.to_source()
            assert parse(text) == mutant and text != canonical(seed).to_source()
            check_types(mutant)
        changed += any(mutants)
    # A one-call seed such as `O = f(I)` may have no other argument that fits.
    assert changed >= 0.8 * len(SEED_PROGRAMS)


@pytest.mark.slow  # 200 x ~120 seeds: about half a minute
def test_two_hundred_mutants_of_every_seed_type_check() -> None:
    rng = random.Random(1)
    for task_id, source in sorted(SEED_PROGRAMS.items()):
        seed = parse(source)
        kept = [m for m in (mutate(seed, rng) for _ in range(200)) if m is not None]
        assert len(kept) >= 190, task_id
        texts = {m.to_source() for m in kept}
        assert len(texts) >= 20, task_id  # they vary
        for text in texts:
            check_types(parse(text))  # valid program text, type-correct


def test_each_mutation_kind_does_what_it_says() -> None:
    seed = parse("x1 = objects(I, TRUE, FALSE, TRUE)\nx2 = argmax(x1, size)\nO = subgrid(x2, I)\n")
    rng = random.Random(2)
    same_length = 0
    for _ in range(50):
        mutant = mutate(seed, rng, kinds=("argument",), insert=0.0)
        assert mutant is not None
        # Same calls, one argument different (dead statements may have been dropped).
        if len(mutant) == len(seed):
            same_length += 1
            assert [s.function for s in mutant.statements] == [s.function for s in seed.statements]
            assert sum(a != b for a, b in zip(mutant.statements, seed.statements, strict=True)) == 1
        mutant = mutate(seed, rng, kinds=("function",))
        assert mutant is not None and len(mutant) == len(seed)
        assert [s.args for s in mutant.statements] == [s.args for s in seed.statements]
        pairs = zip(mutant.statements, seed.statements, strict=True)
        assert sum(a.function != b.function for a, b in pairs) == 1
    assert same_length >= 10  # the check above ran
    definitions = {mutate(seed, rng, kinds=("definition",)).to_source() for _ in range(50)}
    assert len(definitions) > 20


def test_kinds_follow_the_official_weights_and_insertions_add_a_definition() -> None:
    rng = random.Random(5)
    tally: Counter[str] = Counter()
    seeds = [parse(source) for _, source in sorted(SEED_PROGRAMS.items())]
    made = sum(mutate(seeds[k % len(seeds)], rng, tally=tally) is not None for k in range(1200))
    total = sum(tally.values())
    assert total == made == 1200
    argument = (tally["argument"] + tally["insertion"]) / total
    assert abs(argument - MUTATION_WEIGHTS["argument"]) < 0.06, tally
    assert abs(tally["function"] / total - MUTATION_WEIGHTS["function"]) < 0.06, tally
    assert abs(tally["definition"] / total - MUTATION_WEIGHTS["definition"]) < 0.06, tally
    assert 0.15 < tally["insertion"] / (tally["argument"] + tally["insertion"]) < 0.35, tally
    # an insertion defines a new variable that the mutated statement uses
    seed = parse("x1 = objects(I, TRUE, FALSE, TRUE)\nx2 = argmax(x1, size)\nO = subgrid(x2, I)\n")
    grown = 0
    for _ in range(30):
        mutant = mutate(seed, rng, kinds=("argument",), insert=1.0)
        assert mutant is not None
        check_types(mutant)
        grown += len(mutant) == len(seed) + 1
    assert grown >= 20  # the others replaced an argument whose statement then died


def test_canonical_drops_dead_code_and_renumbers() -> None:
    program = parse("x1 = vmirror(I)\nx2 = hmirror(I)\nx3 = rot90(x2)\nO = dmirror(x3)\n")
    assert canonical(program).to_source() == "x1 = hmirror(I)\nx2 = rot90(x1)\nO = dmirror(x2)\n"


def test_an_ill_typed_seed_is_refused() -> None:
    with pytest.raises(Exception, match="argument 1 of vmirror"):
        mutate(parse("O = vmirror(TRUE)\n"), random.Random(0))


def test_drop_rules() -> None:
    seen: set = set()
    inputs = [G1, G2]
    mirrored = [((0, 0, 1), (0, 0, 2)), ((3, 0), (4, 0), (0, 5))]
    assert drop_reason(inputs, [mirrored[0], "ProgramRuntimeError: boom"], seen) == "invalid"
    assert drop_reason(inputs, ["timeout: time limit", "timeout: time limit"], seen) == "invalid"
    assert drop_reason(inputs, inputs, seen) == "trivial"  # identity
    assert drop_reason(inputs, [((1,),), ((1,),)], seen) == "trivial"  # constant
    big = tuple((0,) * 12 for _ in range(3))
    assert drop_reason(inputs, [big, mirrored[1]], seen, max_side=10) == "oversized"
    assert drop_reason(inputs, [big, mirrored[1]], seen, max_side=12) is None
    assert drop_reason(inputs, mirrored, seen) is None
    assert drop_reason(inputs, mirrored, seen) == "duplicate"  # same outputs, same inputs
    assert drop_reason([G1, G3], [mirrored[0], G2], seen) is None  # other inputs: new
    assert not seen.isdisjoint({((G1, G2), tuple(mirrored))})


def test_mutation_buffer_makes_valid_distinct_tasks(runner: ProgramRunner) -> None:
    tasks = [
        ArcTask(
            "mirror",
            (
                Example(G1, run_job(("O = vmirror(I)\n", (G1,), 99))[0]),
                Example(G2, run_job(("O = vmirror(I)\n", (G2,), 99))[0]),
            ),
            (),
        ),
        ArcTask("other", (Example(G3, G3), Example(G2, G2)), ()),
        ArcTask("big", (Example(tuple((1,) * 20 for _ in range(20)), ((1,),)),), ()),
    ]
    seeds = {
        "mirror": "O = vmirror(I)\n",
        "other": "x1 = objects(I, TRUE, FALSE, TRUE)\nx2 = argmax(x1, size)\nO = subgrid(x2, I)\n",
        "big": "O = upscale(I, THREE)\n",  # seeds may come from tasks outside `max_side`
    }
    reports: list[tuple[int, int]] = []
    source = MutationSource(seeds, tasks, max_side=10)
    entries = source.entries(
        runner,
        40,
        random.Random(0),
        progress=lambda kept, target: reports.append((kept, target)),
        batch_size=64,
    )
    tally = source.tally
    assert len(entries) == 40
    assert reports[-1] == (40, 40) and all(t == 40 for _, t in reports)
    # Every drop rule fired, and what was kept is what the tally says.
    assert set(tally) == {"kept", "invalid", "trivial", "oversized", "duplicate"}, tally
    assert tally["kept"] == 40
    # The unmutated seed comes first, on its own task.
    assert entries[0].task_id == "mirror" and entries[0].program == seeds["mirror"]
    signatures = set()
    for entry in entries:
        assert entry.source == "mutation" and entry.priority == 1.0
        inputs = tuple(e.input for e in entry.examples)
        outputs = tuple(e.output for e in entry.examples)
        assert run_job((entry.program, inputs, 10_000)) == outputs  # the program solves it
        assert all(len(g) <= 10 and len(g[0]) <= 10 for g in outputs)
        assert inputs not in {((tuple((1,) * 20 for _ in range(20)),),)}  # "big" is not used
        assert outputs != inputs and len(set(outputs)) > 1
        signatures.add((inputs, outputs))
        check_types(parse(entry.program))
        seed_id = entry.task_id.split("@")[0]
        assert seed_id in seeds
    assert len(signatures) == len(entries)
    assert any("@" in e.task_id for e in entries)  # other tasks lent their inputs


def test_mutation_buffer_stops_when_nothing_new_can_be_found(runner: ProgramRunner) -> None:
    task = ArcTask("t", (Example(G1, G1), Example(G2, G2)), ())
    source = MutationSource({"t": "O = vmirror(I)\n"}, [task])
    entries = source.entries(runner, 10_000, random.Random(0), max_programs=300)
    tally = source.tally
    assert 0 < len(entries) < 10_000
    assert sum(tally.values()) <= 300


def test_mutation_buffer_rejects_bad_seeds() -> None:
    task = ArcTask("t", (Example(G1, G1),), ())
    with pytest.raises(ValueError, match="seed program of task t is invalid"):
        MutationSource({"t": "O = vmirror(TRUE)\n"}, [task])
    with pytest.raises(ValueError, match="at least one seed"):
        MutationSource({}, [task])
