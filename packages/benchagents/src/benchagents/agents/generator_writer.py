"""The generation agent writing generation code for a built-in domain (`--llm-generator`).

In the BenchAgents paper the generation agent writes the code that produces instances. Our
built-in domains (calendar, text) default to hand-written generators, which is what makes small
models usable: the LLM only edits the plan within limits and rephrases. With `--llm-generator`
the backend writes the generator itself: `generate(params: dict, seed: int) -> dict`, shown the
plan's parameters and one instance of the hand-written generator as the format to produce.

The code is untrusted, like a described domain's: it runs only in `reasonloop.sandbox`, one
fresh isolated interpreter per call, never in this process. Its instances are verified by the
built-in domain's own code (schema, consistency, the solver's or the witness's reference, the
prompt), repaired where that code can and dropped otherwise, as a described domain's are by its
checker. The draft is tried on one instance before it is accepted; a failing draft goes back to
the model with the error, a bounded number of times.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from benchagents.domains.base import Domain, Verdict
from benchagents.domains.described import (
    DescribedDomainError,
    call_sandboxed,
    instance_from_code,
    trial,
)
from benchagents.instance import Instance
from benchagents.llm import LLM
from benchagents.plan import Plan
from reasonloop.atomic import write_atomic
from reasonloop.benchmarks import Check

GENERATOR_FILE = "generator.py"


class GeneratorDraft(BaseModel):
    """What the backend writes: the generator's source."""

    model_config = ConfigDict(extra="forbid")
    generator_code: str = Field(min_length=1, max_length=8000)


class WrittenGeneratorDomain(Domain):
    """A built-in domain whose `generate` is written code run in the sandbox; planning,
    verification, repair and checking stay the built-in domain's."""

    def __init__(
        self,
        base: Domain,
        source: str,
        *,
        time_limit_s: float = 5.0,
        memory_limit_mb: float = 256.0,
    ) -> None:
        self.base = base
        self.source = source
        self.name = base.name
        self.description = base.description
        self.time_limit_s = time_limit_s
        self.memory_limit_mb = memory_limit_mb

    @classmethod
    def from_dir(cls, base: Domain, path: str | Path) -> WrittenGeneratorDomain:
        file = Path(path) / GENERATOR_FILE
        if not file.is_file():
            raise DescribedDomainError(f"{file} is missing (the LLM-written generator)")
        return cls(base, file.read_text(encoding="utf-8"))

    def save(self, path: str | Path) -> None:
        write_atomic(Path(path) / GENERATOR_FILE, self.source)

    def generate(self, params: dict[str, Any], rng: random.Random, instance_id: str) -> Instance:
        value = call_sandboxed(
            self.source,
            "generate",
            [params, rng.getrandbits(31)],
            time_limit_s=self.time_limit_s,
            memory_limit_mb=self.memory_limit_mb,
        )
        return instance_from_code(value, params, instance_id)

    def default_plan(self) -> Plan:
        return self.base.default_plan()

    def sample_params(self, plan: Plan, rng: random.Random) -> dict[str, Any]:
        return self.base.sample_params(plan, rng)

    def verify(self, instance: Instance) -> list[Verdict]:
        return self.base.verify(instance)

    def repair(self, instance: Instance, verdicts: list[Verdict]) -> Instance | None:
        return self.base.repair(instance, verdicts)

    def check(self, instance: Instance, answer: str) -> list[Check]:
        return self.base.check(instance, answer)

    def constrainedness(self, instance: Instance) -> int:
        return self.base.constrainedness(instance)

    def answer_instructions(self) -> str:
        return self.base.answer_instructions()

    def llm_fields(self, instance: Instance) -> dict[str, str]:
        return self.base.llm_fields(instance)


def write_generator(
    llm: LLM, base: Domain, plan: Plan, *, max_retries: int = 2, max_tokens: int = 2000
) -> WrittenGeneratorDomain:
    """Ask the backend for a generator of `base`'s instances, try it in the sandbox, send
    failures back; DescribedDomainError when no draft works."""
    rng = random.Random(0)
    example = base.generate(base.sample_params(plan, rng), rng, "example")
    shown = example.model_dump(mode="json", exclude={"id"})
    parameters = "\n".join(
        f"- {p.name} ({p.kind}): {p.description}; "
        + (f"one of {p.choices}" if p.choices else f"from {p.low} to {p.high}")
        for p in plan.parameters
    )
    messages = [
        {
            "role": "user",
            "content": f"Write the generator of a benchmark: {base.description}\n\n"
            "Python source defining generate(params: dict, seed: int) -> dict that returns "
            "one new instance with the keys of this example (prompt, params, constraints, "
            "metadata, reference), the same shapes, every value varied with "
            "random.Random(seed); reference is a correct answer. Standard library only.\n"
            f"params holds:\n{parameters}\nExample instance:\n{json.dumps(shown)}",
        }
    ]
    problems: list[str] = []
    for _ in range(max_retries + 1):
        try:
            draft = llm.complete_json(messages, GeneratorDraft, max_tokens=max_tokens)
        except ValueError as error:  # no valid JSON, or a prompt past the model's context
            raise DescribedDomainError(
                f"the model could not write a {base.name} generator: {error}; "
                "drop --llm-generator to use the hand-written one"
            ) from None
        domain = WrittenGeneratorDomain(base, draft.generator_code)
        try:
            trial(domain, plan)
            return domain
        except DescribedDomainError as error:
            problems.append(str(error))
            messages += [
                {"role": "assistant", "content": draft.model_dump_json()},
                {"role": "user", "content": f"That generator fails: {error}. Fix it."},
            ]
    raise DescribedDomainError(
        f"the model's {base.name} generators failed {len(problems)} times (last: "
        f"{problems[-1]}); drop --llm-generator to use the hand-written one"
    )
