"""The versioned dataset directory: write/load round trip, versions, card, errors."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import stat
from collections import Counter
from pathlib import Path

import pytest

from benchagents.dataset import FILES, load_dataset_dir, write_dataset
from benchagents.domains import get_domain
from benchagents.instance import Instance
from benchagents.plan import Plan

STATS = {"generated": 12, "verified": 8, "repaired": 1, "rejected": {"reference": 3, "schema": 1}}


def calendar_instances(count: int, seed: int = 0) -> tuple[Plan, list[Instance]]:
    domain = get_domain("calendar")
    plan = domain.default_plan()
    rng = random.Random(seed)
    return plan, [
        domain.generate(domain.sample_params(plan, rng), rng, f"cal-{i:03d}") for i in range(count)
    ]


def test_round_trip(tmp_path: Path) -> None:
    plan, instances = calendar_instances(8)
    path = write_dataset(tmp_path / "run", plan, instances, "calendar", STATS)
    assert path == tmp_path / "run" / "dataset" / "v1"
    assert sorted(p.name for p in path.iterdir()) == sorted(FILES)
    assert [p.name for p in path.parent.iterdir()] == ["v1"]  # no temporary directory left
    dataset = load_dataset_dir(path)
    assert dataset.instances == instances
    assert dataset.plan == plan
    assert (dataset.domain_name, dataset.version, dataset.path) == ("calendar", 1, path)
    assert dataset.stats["generation"] == STATS

    domain = get_domain("calendar")
    histogram = Counter(domain.constrainedness(i) for i in instances)
    assert dataset.stats["constrainedness"] == {str(k): histogram[k] for k in sorted(histogram)}
    coverage = dataset.stats["parameter_coverage"]
    assert set(coverage) == {p.name for p in plan.parameters}
    participants = [i.params["num_participants"] for i in instances]
    assert (coverage["num_participants"]["min"], coverage["num_participants"]["max"]) == (
        min(participants),
        max(participants),
    )
    granularity = Counter(str(i.params["granularity"]) for i in instances)
    assert coverage["granularity"]["counts"] == {g: granularity[g] for g in ("15", "30", "60")}

    card = (path / "README.md").read_text()
    assert "domain `calendar`), version 1" in card
    assert "- generated: 12" in card and "- rejected: 4" in card and "  - reference: 3" in card
    assert "| num_participants | int | 2 to 5 |" in card
    for level, count in histogram.items():
        assert f"| {level} | {count} |" in card
    assert 'load_dataset(".", split="test")' in card


@pytest.mark.parametrize("domain_name", ["calendar", "text"])
def test_a_version_loads_with_datasets_load_dataset_of_its_directory(
    tmp_path: Path, domain_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")  # in the workspace through trl (dev tools)
    domain = get_domain(domain_name)
    plan, rng = domain.default_plan(), random.Random(1)
    instances = [domain.generate(domain.sample_params(plan, rng), rng, f"i{n}") for n in range(6)]
    path = write_dataset(tmp_path / "run", plan, instances, domain_name, STATS)
    loaded = datasets.load_dataset(str(path), cache_dir=str(tmp_path / "hf-cache"))
    assert list(loaded) == ["test"]
    assert list(loaded["test"]["id"]) == [i.id for i in instances]
    assert list(loaded["test"]["prompt"]) == [i.prompt for i in instances]


def test_checkers_module_grades_with_the_domain(tmp_path: Path) -> None:
    plan, instances = calendar_instances(3)
    path = write_dataset(tmp_path, plan, instances, "calendar", STATS)
    spec = importlib.util.spec_from_file_location("dataset_checkers", path / "checkers.py")
    assert spec is not None and spec.loader is not None
    checkers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checkers)  # our own generated file, not untrusted code
    row = json.loads((path / "instances.jsonl").read_text().splitlines()[0])
    right = checkers.grade(row, f"Final Answer: {row['reference']}")
    assert (right.passed, right.score) == (True, 1.0)
    wrong = checkers.grade(row, "Sometime next week")
    assert not wrong.passed and wrong.score == 0.0
    assert "malformed answer" in wrong.checks[0].detail


def test_described_domain_keeps_its_checker_code(tmp_path: Path) -> None:
    plan, instances = calendar_instances(2)
    code = "def check(instance, answer):\n    return [('mentions_day', 'day' in answer)]\n"
    path = write_dataset(
        tmp_path,
        plan,
        instances,
        "meetings",
        {},
        domain=get_domain("calendar"),
        checker_code=code,
    )
    text = (path / "checkers.py").read_text()
    assert text.startswith("# The checker of the described domain `meetings`")
    assert text.endswith(code)
    assert load_dataset_dir(path).domain_name == "meetings"


def test_versions_count_up_and_the_latest_is_loaded(tmp_path: Path) -> None:
    plan, instances = calendar_instances(4)
    run = tmp_path / "run"
    first = write_dataset(run, plan, instances[:2], "calendar", STATS)
    second = write_dataset(run, plan, instances, "calendar", STATS)
    assert (first.name, second.name) == ("v1", "v2")
    assert load_dataset_dir(run).version == 2
    assert len(load_dataset_dir(run / "dataset").instances) == 4
    assert len(load_dataset_dir(first).instances) == 2
    second.rename(run / "dataset" / "v10")  # numeric, not lexicographic: v10 > v9 > v1
    (run / "dataset" / "v9").mkdir()
    assert write_dataset(run, plan, instances, "calendar", STATS).name == "v11"


def test_bad_inputs_to_write(tmp_path: Path) -> None:
    plan, instances = calendar_instances(2)
    with pytest.raises(ValueError, match="at least one instance"):
        write_dataset(tmp_path, plan, [], "calendar", STATS)
    with pytest.raises(ValueError, match="duplicate instance ids: cal-000"):
        write_dataset(tmp_path, plan, [instances[0], instances[0]], "calendar", STATS)
    with pytest.raises(ValueError, match="unknown domain 'nope'"):
        write_dataset(tmp_path, plan, instances, "nope", STATS)
    assert not (tmp_path / "dataset").exists() or not any((tmp_path / "dataset").iterdir())


def _break_line(path: Path, number: int, text: str) -> None:
    lines = (path / "instances.jsonl").read_text().splitlines()
    lines[number - 1] = text
    (path / "instances.jsonl").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: (p / "README.md").unlink(), r"v1: not a dataset version, missing README\.md"),
        (
            lambda p: _break_line(p, 2, "{not json"),
            r"instances\.jsonl:2: invalid JSON",
        ),
        (
            lambda p: _break_line(p, 3, '{"id": "x", "params": {}, "constraints": {}}'),
            r"instances\.jsonl:3: not an instance: prompt: Field required",
        ),
        (
            lambda p: _break_line(p, 2, (p / "instances.jsonl").read_text().splitlines()[0]),
            r"instances\.jsonl:2: instance id 'cal-000' is also on line 1",
        ),
        (lambda p: (p / "instances.jsonl").write_text("\n"), r"instances\.jsonl: holds no"),
        (
            lambda p: (p / "plan.yaml").write_text("domain: calendar\n"),
            r"plan\.yaml: description: Field required",
        ),
        (lambda p: (p / "plan.yaml").write_text("a: [\n"), r"plan\.yaml: plan is not valid YAML"),
        (lambda p: (p / "stats.json").write_text("{\n  oops"), r"stats\.json:2: invalid JSON"),
        (lambda p: (p / "stats.json").write_text("{}"), r"stats\.json: needs an integer `version`"),
    ],
)
def test_malformed_directories_name_the_file_and_line(
    tmp_path: Path, damage: object, message: str
) -> None:
    plan, instances = calendar_instances(3)
    path = write_dataset(tmp_path, plan, instances, "calendar", STATS)
    damage(path)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        load_dataset_dir(path)


def test_missing_directories(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dataset directory not found"):
        load_dataset_dir(tmp_path / "absent")
    (tmp_path / "run" / "dataset").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"run: no dataset version \(expected instances\.jsonl"):
        load_dataset_dir(tmp_path / "run")


def test_instances_load_with_hugging_face_datasets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")  # the optional `hub` extra
    plan, instances = calendar_instances(6)
    path = write_dataset(tmp_path, plan, instances, "calendar", STATS)
    rows = datasets.load_dataset(
        "json",
        data_files=str(path / "instances.jsonl"),
        split="train",
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert rows["id"] == [i.id for i in instances]
    assert rows["reference"] == [i.reference for i in instances]
    first = rows[0]
    assert first["prompt"] == instances[0].prompt
    assert first["constraints"]["meeting_duration"] == instances[0].constraints["meeting_duration"]


def test_a_version_has_the_modes_of_a_plain_write(tmp_path: Path) -> None:
    plan, instances = calendar_instances(2)
    old = os.umask(0o022)
    try:
        path = write_dataset(tmp_path, plan, instances, "calendar", STATS)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o755  # not mkdtemp's 0700
    assert {stat.S_IMODE(p.stat().st_mode) for p in path.iterdir()} == {0o644}
