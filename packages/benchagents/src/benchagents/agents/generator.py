"""The generation agent: a parameter sweep through the domain's generation code, and LLM
rewrites of the passages a domain lets a model rephrase.

Instance `i` draws its parameters and its data from its own RNG, seeded by (seed, i), so a
run, a resumed run and a regenerated subset give the same instances. The domain's code does
the heavy lifting (it knows the answer); the LLM contributes surface diversity: each passage
of `Domain.llm_fields` may be replaced by the model's rephrasing (`Domain.apply_llm_fields`).
Every rewrite is recorded with its original, so verification can check that it kept the
facts and revert it when it did not (`verifier.fact_problem`).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from benchagents.agents.progress import ProgressFactory, no_progress
from benchagents.domains import Domain
from benchagents.domains.described import GeneratedCodeError
from benchagents.instance import Instance
from benchagents.llm import LLM
from benchagents.plan import Plan


class Rephrasing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=240)


@dataclass(frozen=True)
class Rewrite:
    """One LLM rewrite applied to an instance's prompt (a line of rewrites.jsonl)."""

    id: str
    field: str
    original: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GenerationResult:
    instances: list[Instance]
    rewrites: list[Rewrite] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # why generation code failed, per failure


def instance_rng(seed: int, index: int) -> random.Random:
    """The RNG of instance `index`: independent of how many instances come before it."""
    return random.Random(f"{seed}:{index}")


class Generator:
    def __init__(
        self,
        domain: Domain,
        llm: LLM | None,
        *,
        max_tokens: int = 64,
        temperature: float = 0.7,
        variants: int = 8,
    ) -> None:
        self.domain = domain
        self.llm = llm  # None: no rewrites
        self.variants = variants  # rephrasings asked per distinct passage
        self.max_tokens = max_tokens
        self.temperature = temperature

    def generate(
        self,
        plan: Plan,
        count: int,
        seed: int,
        progress: ProgressFactory = no_progress,
    ) -> GenerationResult:
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        advance = progress("generating (domain code)", count)
        result = GenerationResult([])
        for index in range(count):
            rng = instance_rng(seed, index)
            params = self.domain.sample_params(plan, rng)
            try:
                instance = self.domain.generate(params, rng, f"{plan.domain}-{index:05d}")
            except GeneratedCodeError as error:  # a described domain's code, in the sandbox
                result.counts["generation_failed"] += 1
                result.errors.append(str(error))
            else:
                result.instances.append(instance)
            advance(1)
        if not result.instances:
            raise GeneratedCodeError(f"no instance was generated; first error: {result.errors[0]}")
        result.counts["generated"] = len(result.instances)
        if self.llm is not None:
            self._rewrite(result, seed, progress)
        return result

    def _rewrite(self, result: GenerationResult, seed: int, progress: ProgressFactory) -> None:
        """Each distinct passage is rephrased `variants` times in one batch (instances often
        share a passage, e.g. an opening sentence); its instances take the valid rephrasings
        in turn."""
        assert self.llm is not None
        passages: dict[tuple[str, str], list[int]] = {}
        for position, instance in enumerate(result.instances):
            for name, text in self.domain.llm_fields(instance).items():
                if text:
                    passages.setdefault((name, text), []).append(position)
        advance = progress("rewriting (llm)", len(passages))
        for number, ((name, original), positions) in enumerate(passages.items()):
            message = {
                "role": "user",
                "content": "Rephrase this sentence from a task description in other words. "
                f"Keep its meaning; add no names, numbers or facts.\nSentence: {original}",
            }
            samples = self.llm.sample_json(
                [message],
                Rephrasing,
                min(len(positions), self.variants),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                seed=seed + number,
                max_retries=1,
            )
            texts = [" ".join(s.text.split()) for s in samples if isinstance(s, Rephrasing)]
            result.counts["rephrasings"] += len(texts)
            result.counts["rephrasings_failed"] += len(samples) - len(texts)
            for turn, position in enumerate(positions if texts else []):
                text = texts[turn % len(texts)]
                instance = result.instances[position]
                result.instances[position] = self.domain.apply_llm_fields(instance, {name: text})
                result.rewrites.append(Rewrite(instance.id, name, original, text))
                result.counts["rewritten"] += 1
            advance(1)
