"""A benchmark as a versioned directory: `RUN/dataset/v{N}/`, the pipeline's final artifact.

Each version holds everything needed to use the benchmark without the run that made it:
`instances.jsonl` (one `Instance` a line), `plan.yaml`, `checkers.py` (how an answer is
graded), `README.md` (the dataset card a person reads; its front matter names the data file,
so `datasets.load_dataset(VERSION_DIR)` loads the instances as a `test` split) and
`stats.json` (the same facts for programs). A version is written into a temporary
directory and renamed into place, so a reader never sees half a version and a new version
never overwrites an old one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from benchagents.domains import Domain, get_domain
from benchagents.instance import Instance
from benchagents.plan import Parameter, Plan
from reasonloop.atomic import new_dir_mode
from reasonloop.errors import describe, one_line
from reasonloop.jsonl import read_json, read_jsonl
from reasonloop.limits import shown

INSTANCES = "instances.jsonl"
PLAN = "plan.yaml"
CHECKERS = "checkers.py"
CARD = "README.md"  # the Hugging Face name of a dataset card
STATS = "stats.json"
FILES = (INSTANCES, PLAN, CHECKERS, CARD, STATS)

_VERSION = re.compile(r"v(\d+)")

# The checkers.py of a built-in domain: it grades through the installed package, so the
# dataset documents its grader without a copy that could drift from the real one.
_BUILTIN_CHECKERS = '''\
"""How answers to this dataset are graded: the built-in `{domain}` domain of benchagents.

Each answer is checked constraint by constraint (`Domain.check`); it is all-correct when every
check passes and scores the fraction of checks that pass. Needs `reasonloop-benchagents`.
"""

from benchagents.domains import get_domain
from benchagents.instance import Instance
from benchagents.scoring import grade_answer
from reasonloop.benchmarks import GradeResult

DOMAIN = "{domain}"


def grade(instance: dict, answer: str) -> GradeResult:
    """Grade one answer to one instance (a line of instances.jsonl, parsed)."""
    return grade_answer(get_domain(DOMAIN), Instance.model_validate(instance), answer)
'''

_DESCRIBED_HEADER = """\
# The checker of the described domain `{domain}`, as the agents wrote it. benchagents runs it
# in reasonloop's sandbox, never in its own process; review it before importing it yourself.

"""


@dataclass(frozen=True)
class Dataset:
    """One loaded version of a dataset directory."""

    path: Path
    version: int
    domain_name: str
    plan: Plan
    instances: list[Instance]
    stats: dict[str, Any]


def write_dataset(
    run_dir: str | Path,
    plan: Plan,
    instances: Sequence[Instance],
    domain_name: str,
    stats: Mapping[str, Any],
    *,
    domain: Domain | None = None,
    checker_code: str | None = None,
) -> Path:
    """Write the next version `run_dir/dataset/v{N}` and return its path.

    `stats` are the pipeline's counts, kept as given in stats.json; the card shows
    `generated`, `verified`, `repaired` and `rejected` (reason -> count) when present.
    `domain` (default: the built-in `domain_name`) buckets instances by constrainedness;
    `checker_code` is a described domain's checker source, which then becomes checkers.py.
    """
    if not instances:
        raise ValueError("a dataset needs at least one instance")
    ids = Counter(i.id for i in instances)
    duplicates = [i for i, count in ids.items() if count > 1]
    if duplicates:
        raise ValueError(f"duplicate instance ids: {', '.join(duplicates[:5])}")
    domain = domain if domain is not None else get_domain(domain_name)
    histogram = Counter(domain.constrainedness(i) for i in instances)
    summary: dict[str, Any] = {
        "domain": domain_name,
        "instances": len(instances),
        "generation": dict(stats),
        "constrainedness": {str(k): histogram[k] for k in sorted(histogram)},
        "parameter_coverage": {p.name: _coverage(p, instances) for p in plan.parameters},
    }
    checkers = (
        _BUILTIN_CHECKERS.format(domain=domain_name)
        if checker_code is None
        else _DESCRIBED_HEADER.format(domain=domain_name) + checker_code
    )
    root = Path(run_dir) / "dataset"
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".writing-"))
    try:
        os.chmod(tmp, new_dir_mode())  # a dataset to share, not mkdtemp's private 0700
        lines = (json.dumps(i.model_dump(mode="json"), ensure_ascii=False) for i in instances)
        (tmp / INSTANCES).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        (tmp / PLAN).write_text(plan.to_yaml(), encoding="utf-8")
        (tmp / CHECKERS).write_text(checkers, encoding="utf-8")
        while True:  # another writer may take a version number first: then take the next
            version = max(_versions(root), default=0) + 1
            summary["version"] = version
            final = root / f"v{version}"
            (tmp / STATS).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
            (tmp / CARD).write_text(_card(plan, summary), encoding="utf-8")
            try:
                os.rename(tmp, final)  # fails on an existing non-empty directory
                return final
            except OSError:
                if not final.exists():
                    raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_dataset_dir(path: str | Path) -> Dataset:
    """Load a version directory, or the latest version of a run directory (or its dataset/)."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"dataset directory not found: {path}")
    version_dir = path if (path / INSTANCES).exists() else _latest(path)
    missing = [name for name in FILES if not (version_dir / name).is_file()]
    if missing:
        raise ValueError(f"{version_dir}: not a dataset version, missing {', '.join(missing)}")
    stats_file = version_dir / STATS
    stats = read_json(stats_file)
    try:
        version, domain_name = int(stats["version"]), str(stats["domain"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{stats_file}: needs an integer `version` and a `domain`") from None
    try:
        plan = Plan.load(version_dir / PLAN)
    except ValueError as error:
        raise ValueError(f"{version_dir / PLAN}: {one_line(error)}") from None
    return Dataset(
        version_dir, version, domain_name, plan, _read_instances(version_dir / INSTANCES), stats
    )


def _read_instances(path: Path) -> list[Instance]:
    instances: list[Instance] = []
    seen: dict[str, int] = {}
    for number, row in read_jsonl(path):
        try:
            instance = Instance.model_validate(row)
        except ValidationError as error:
            raise ValueError(f"{path}:{number}: not an instance: {describe(error)}") from None
        if instance.id in seen:
            raise ValueError(
                f"{path}:{number}: instance id {shown(instance.id)} is also on line "
                f"{seen[instance.id]}"
            )
        seen[instance.id] = number
        instances.append(instance)
    if not instances:
        raise ValueError(f"{path}: holds no instances")
    return instances


def _versions(root: Path) -> list[int]:
    if not root.is_dir():
        return []
    return [
        int(m.group(1))
        for child in root.iterdir()
        if child.is_dir() and (m := _VERSION.fullmatch(child.name))
    ]


def _latest(path: Path) -> Path:
    root = path / "dataset" if (path / "dataset").is_dir() else path
    versions = _versions(root)
    if not versions:
        raise ValueError(f"{path}: no dataset version (expected {INSTANCES} or dataset/v1/)")
    return root / f"v{max(versions)}"


def _coverage(parameter: Parameter, instances: Sequence[Instance]) -> dict[str, Any]:
    """Which values of one parameter the instances cover: a range, or counts per value."""
    values = [i.params[parameter.name] for i in instances if parameter.name in i.params]
    coverage: dict[str, Any] = {"kind": parameter.kind, "instances": len(values)}
    if parameter.kind in ("int", "float"):
        numbers = [float(v) for v in values if isinstance(v, int | float)]
        coverage["planned"] = [parameter.low, parameter.high]
        if numbers:
            coverage.update(min=min(numbers), max=max(numbers), distinct=len(set(numbers)))
    else:
        counts = Counter(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
        planned = parameter.choices if parameter.kind == "choice" else ["true", "false"]
        coverage["counts"] = {v: counts.get(v, 0) for v in planned or []} | dict(counts)
    return coverage


# The card's YAML front matter: what `datasets.load_dataset(DIR)` reads to find the data (the
# directory's other files are the plan, the checkers and stats, not rows).
_FRONT_MATTER = (
    "---",
    "configs:",
    "- config_name: default",
    "  data_files:",
    "  - split: test",
    f"    path: {INSTANCES}",
    "---",
    "",
)


def _card(plan: Plan, summary: Mapping[str, Any]) -> str:
    """The dataset card: what a person needs to judge, load and serve this version."""
    domain, version = summary["domain"], summary["version"]
    generation: Mapping[str, Any] = summary["generation"]
    lines = [
        *_FRONT_MATTER,
        f"# {plan.domain} benchmark (domain `{domain}`), version {version}",
        "",
        plan.description,
        "",
        "## Counts",
        "",
        f"- instances in this version: {summary['instances']}",
    ]
    for key in ("generated", "verified", "repaired"):
        if key in generation:
            lines.append(f"- {key}: {generation[key]}")
    rejected: Mapping[str, Any] = generation.get("rejected") or {}
    if rejected:
        lines.append(f"- rejected: {sum(int(v) for v in rejected.values())}")
        lines += [f"  - {reason}: {count}" for reason, count in sorted(rejected.items())]
    lines += ["", "## Parameter coverage", "", "| parameter | kind | planned | covered |"]
    lines.append("|---|---|---|---|")
    for name, c in summary["parameter_coverage"].items():
        if "counts" in c:
            planned = "one of " + ", ".join(c["counts"]) if c["kind"] == "choice" else "bool"
            covered = ", ".join(f"{v}: {n}" for v, n in c["counts"].items())
        else:
            low, high = c["planned"]
            planned = f"{low:g} to {high:g}" if low is not None and high is not None else "any"
            if "min" in c:
                covered = f"{c['min']:g} to {c['max']:g}, {c['distinct']} distinct"
            else:
                covered = ""
        lines.append(f"| {name} | {c['kind']} | {planned} | {covered or 'none'} |")
    histogram: Mapping[str, int] = summary["constrainedness"]
    widest = max(histogram.values())
    lines += ["", "## Constrainedness", "", "| constrainedness | instances | |", "|---|---|---|"]
    for bucket, count in histogram.items():
        lines.append(f"| {bucket} | {count} | {'█' * max(1, round(20 * count / widest))} |")
    if plan.evaluation is not None:
        lines += ["", "## Answer format", "", plan.evaluation.answer_format]
    lines += [
        "",
        "## Grading",
        "",
        f"`{CHECKERS}` grades one answer: one check per constraint; an answer is all-correct",
        "when every check passes and scores the fraction that pass.",
        "",
        "## Use",
        "",
        "From this directory:",
        "",
        "```python",
        "from datasets import load_dataset  # pip install datasets",
        'rows = load_dataset(".", split="test")  # the instances, as the front matter says',
        "",
        "from benchagents.dataset import load_dataset_dir",
        'dataset = load_dataset_dir(".")',
        "",
        "from benchagents.benchmark import serve_dataset  # the gRPC Benchmark service",
        'server = serve_dataset(".")  # port 50052; server.wait() serves until Ctrl-C',
        "```",
        "",
        "Then evaluate a model on it: `reasonloop eval --benchmark grpc://127.0.0.1:50052`.",
        "",
    ]
    return "\n".join(lines)
