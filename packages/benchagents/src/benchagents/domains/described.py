"""A domain from a written description: the planner LLM writes its plan and its code.

A described domain is a *draft*: a plan (parameters, constraints, answer format) and two
Python sources the LLM wrote (or a person, in the same files):

- `generator.py` defines `generate(params: dict, seed: int) -> dict` returning the instance's
  `prompt` (str), `constraints` (dict), and optionally `metadata` (dict) and `reference` (a
  correct answer, str);
- `checker.py` defines `check(instance: dict, answer: str) -> list` of `[name, passed, detail]`
  triples, one per constraint.

Both are untrusted: they run only in `reasonloop.sandbox` (a fresh isolated interpreter per
call, standard library only, time and memory limits), never in this process. An instance is
verified by running the checker on its own reference: it must give checks, and pass them all.
The LLM's draft is tried the same way before it is accepted (one instance generated and its
reference checked); a failing draft is sent back with the error, a bounded number of times.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from benchagents.domains.base import Domain, Verdict, sample_plan_params
from benchagents.instance import Instance
from benchagents.llm import LLM, StructuredOutputError
from benchagents.plan import ConstraintSpec, EvaluationPlan, Parameter, Plan
from reasonloop.benchmarks import Check
from reasonloop.errors import one_line
from reasonloop.sandbox import run_python_batch

PLAN_FILE = "plan.yaml"
GENERATOR_FILE = "generator.py"
CHECKER_FILE = "checker.py"
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
_CONTRACT = (
    "generator_code defines generate(params: dict, seed: int) -> dict returning 'prompt' "
    "(str), 'constraints' (dict), 'metadata' (dict) and 'reference' (a correct answer, str); "
    "checker_code defines check(instance: dict, answer: str) -> list of [name, passed, detail], "
    "one per constraint. Standard library only; use random.Random(seed)."
)


class DescribedDomainError(ValueError):
    """A draft that cannot be used (bad files, or code that fails in the sandbox)."""


class GeneratedCodeError(DescribedDomainError):
    """One call of the draft's code failed in the sandbox (an error, a timeout, a crash)."""


class DomainDraft(BaseModel):
    """What the planner LLM writes for a described domain."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=40)
    parameters: list[Parameter] = Field(min_length=1, max_length=6)
    constraints: list[ConstraintSpec] = Field(min_length=1, max_length=8)
    answer_format: str = Field(max_length=400)
    generator_code: str = Field(max_length=6000)
    checker_code: str = Field(max_length=6000)


class DescribedDomain(Domain):
    def __init__(
        self,
        plan: Plan,
        generator_source: str,
        checker_source: str,
        *,
        time_limit_s: float = 5.0,
        memory_limit_mb: float = 256.0,
    ) -> None:
        if not _NAME.match(plan.domain):
            raise DescribedDomainError(f"domain name {plan.domain!r} must be snake_case")
        self.name = plan.domain
        self.description = plan.description
        self.plan = plan
        self.generator_source = generator_source
        self.checker_source = checker_source
        self.time_limit_s = time_limit_s
        self.memory_limit_mb = memory_limit_mb

    # ---- files ------------------------------------------------------------------------

    @classmethod
    def from_dir(cls, path: str | Path) -> DescribedDomain:
        """Load a draft directory (plan.yaml, generator.py, checker.py)."""
        path = Path(path)
        missing = [n for n in (PLAN_FILE, GENERATOR_FILE, CHECKER_FILE) if not (path / n).is_file()]
        if missing:
            raise DescribedDomainError(f"{path}: the draft lacks {', '.join(missing)}")
        try:
            plan = Plan.load(path / PLAN_FILE)
        except ValueError as error:
            raise DescribedDomainError(f"{path / PLAN_FILE}: {one_line(error)}") from None
        return cls(
            plan,
            (path / GENERATOR_FILE).read_text(encoding="utf-8"),
            (path / CHECKER_FILE).read_text(encoding="utf-8"),
        )

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.plan.save(path / PLAN_FILE)
        for name, text in (
            (GENERATOR_FILE, self.generator_source),
            (CHECKER_FILE, self.checker_source),
        ):
            tmp = path / f".{name}.tmp"
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path / name)

    # ---- the Domain interface ------------------------------------------------------------

    def default_plan(self) -> Plan:
        return self.plan.model_copy(deep=True)

    def sample_params(self, plan: Plan, rng: random.Random) -> dict[str, Any]:
        return sample_plan_params(plan, rng)

    def generate(self, params: dict[str, Any], rng: random.Random, instance_id: str) -> Instance:
        value = self._call(self.generator_source, "generate", [params, rng.getrandbits(31)])
        return instance_from_code(value, params, instance_id)

    def verify(self, instance: Instance) -> list[Verdict]:
        if instance.reference is None:
            return [Verdict("reference", False, "the instance has no reference answer")]
        try:
            checks = self._checks(instance, instance.reference)
        except GeneratedCodeError as error:
            return [Verdict("checker", False, str(error))]
        if not checks:
            return [Verdict("checker", False, "the checker returned no checks")]
        failed = [c.name for c in checks if not c.passed]
        return [
            Verdict("checker", True),
            Verdict("reference", not failed, f"the reference fails: {', '.join(failed)}"),
        ]

    def repair(self, instance: Instance, verdicts: list[Verdict]) -> Instance | None:
        return None  # the draft's code knows no repair; regenerate instead

    def check(self, instance: Instance, answer: str) -> list[Check]:
        try:
            return self._checks(instance, answer)
        except GeneratedCodeError as error:
            return [Check("checker", False, str(error))]

    def constrainedness(self, instance: Instance) -> int:
        return sum(1 for value in instance.constraints.values() if value not in (None, False, 0))

    def answer_instructions(self) -> str:
        return self.plan.evaluation.answer_format if self.plan.evaluation else "Answer briefly."

    # ---- the sandbox -----------------------------------------------------------------------

    def _call(self, source: str, function: str, args: list[Any]) -> Any:
        return call_sandboxed(
            source,
            function,
            args,
            time_limit_s=self.time_limit_s,
            memory_limit_mb=self.memory_limit_mb,
        )

    def _checks(self, instance: Instance, answer: str) -> list[Check]:
        value = self._call(self.checker_source, "check", [instance.model_dump(mode="json"), answer])
        if not isinstance(value, list):
            raise GeneratedCodeError(f"check() returned {type(value).__name__}, not a list")
        checks = []
        for item in value:
            if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)):
                raise GeneratedCodeError(f"check() item {item!r:.80} is not [name, passed, detail]")
            checks.append(Check(item[0], bool(item[1]), str(item[2])))
        return checks


def call_sandboxed(
    source: str, function: str, args: list[Any], *, time_limit_s: float, memory_limit_mb: float
) -> Any:
    """`function(*args)` of untrusted `source`, run only in the sandbox; GeneratedCodeError
    saying why when it fails (an error, a timeout, a crash, too much memory)."""
    (result,) = run_python_batch(
        source, function, [args], time_limit_s=time_limit_s, memory_limit_mb=memory_limit_mb
    )
    if not result.ok:
        raise GeneratedCodeError(f"{function}() failed ({result.kind}): {result.error}")
    return result.value


def instance_from_code(value: Any, params: dict[str, Any], instance_id: str) -> Instance:
    """The instance a generator's `generate()` returned: a dict with `prompt`, `constraints`
    and optionally `metadata`, `reference` and `params` (added to the sweep's parameters)."""
    if not isinstance(value, dict):
        raise GeneratedCodeError(f"generate() returned {type(value).__name__}, not a dict")
    extra = sorted(set(value) - {"prompt", "constraints", "metadata", "reference", "params"})
    if extra:
        raise GeneratedCodeError(f"generate() returned unknown keys: {', '.join(extra)}")
    value = dict(value)
    own = value.pop("params", {})
    if not isinstance(own, dict):
        raise GeneratedCodeError(f"generate() returned params of type {type(own).__name__}")
    try:
        return Instance(id=instance_id, params={**params, **own}, **value)
    except ValidationError as error:
        raise GeneratedCodeError(f"generate() returned a bad instance: {one_line(error)}") from None


def trial(domain: Domain, plan: Plan | None = None, seed: int = 0) -> None:
    """Generate one instance (from `plan`, the domain's default plan if none) and verify it,
    repairing what the domain can: raises DescribedDomainError saying what failed."""
    rng = random.Random(seed)
    plan = plan or domain.default_plan()
    try:
        params = domain.sample_params(plan, rng)
    except ValueError as error:
        raise DescribedDomainError(f"the plan's parameters: {error}") from None
    instance = domain.generate(params, rng, "trial")
    verdicts = domain.verify(instance)
    failed = [v for v in verdicts if not v.passed]
    if failed:  # as in verification: what the domain's repair fixes is fine
        fixed = domain.repair(instance, verdicts)
        if fixed is None or not all(v.passed for v in domain.verify(fixed)):
            raise DescribedDomainError(f"trial instance fails {failed[0].name}: {failed[0].detail}")


def write_draft(
    llm: LLM, description: str, *, max_retries: int = 2, max_tokens: int = 1500
) -> DescribedDomain:
    """Ask the LLM for a draft of a domain that fits `description`, try it in the sandbox, and
    send failures back; DescribedDomainError when no draft works."""
    messages = [
        {
            "role": "user",
            "content": f"Design a benchmark domain: {description}\n\nWrite its snake_case name, "
            "generation parameters (kind int, float, choice or bool, with low/high or choices), "
            f"constraints, the answer format shown to models, and code. {_CONTRACT}",
        }
    ]
    problems: list[str] = []
    for _ in range(max_retries + 1):
        try:
            draft = llm.complete_json(messages, DomainDraft, max_tokens=max_tokens)
            domain = domain_from_draft(draft, description)
            trial(domain)
            return domain
        except StructuredOutputError as error:
            raise DescribedDomainError(
                f"the model could not write a domain draft: {error}; write one yourself "
                "(plan.yaml, generator.py, checker.py) and pass it with --draft DIR"
            ) from None
        except DescribedDomainError as error:
            problems.append(str(error))
            messages += [
                {"role": "assistant", "content": draft.model_dump_json()},
                {"role": "user", "content": f"That draft fails: {error}. Fix it."},
            ]
    raise DescribedDomainError(
        f"the model's domain drafts failed {len(problems)} times (last: {problems[-1]}); write "
        "one yourself (plan.yaml, generator.py, checker.py) and pass it with --draft DIR"
    )


def domain_from_draft(draft: DomainDraft, description: str) -> DescribedDomain:
    plan = Plan(
        domain=draft.name,
        description=description,
        parameters=draft.parameters,
        constraints=draft.constraints,
        instance_schema={"type": "object", "description": "set by the generator code"},
        evaluation=EvaluationPlan(
            answer_format=draft.answer_format, metrics=["all_correct", "fraction_passed"]
        ),
    )
    return DescribedDomain(plan, draft.generator_code, draft.checker_code)
