"""The verification agent: code checks, repair or drop, then LLM checks; every reason counted.

First, every LLM rewrite of the prompt must keep the facts of the passage it replaced
(`fact_problem`: same numbers, no new names); one that does not is reverted to the original.
Then code checks (`Domain.verify`: schema, consistency, solvability) decide: a failing instance
is repaired by the domain and verified again, or dropped under the name of its first failed
check.
LLM checks (the plan's `kind: llm` checks, e.g. clarity) are yes/no questions a model answers
about each surviving instance. A weak model's "no" is noise as often as signal, so by default
(`advisory`) it is recorded next to the instance, not acted on; `enforce` drops on it (for a
strong verifier model), `off` skips the calls.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from benchagents.agents.generator import Rewrite
from benchagents.agents.progress import ProgressFactory, no_progress
from benchagents.domains import Domain, Verdict
from benchagents.instance import Instance
from benchagents.llm import LLM, StructuredOutputError
from benchagents.plan import CheckSpec, Plan

_NUMBER = re.compile(r"\d+(?::\d+)?")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
REWRITE_CHECK = "rewrite_facts"

LLMCheckMode = Literal["off", "advisory", "enforce"]
LLM_CHECK_MODES: tuple[str, ...] = ("off", "advisory", "enforce")


def fact_problem(original: str, text: str) -> str | None:
    """Why `text` is not a faithful rephrasing of `original`, or None: it must be one line of
    sensible length, with the same numbers, no more sentences, and no capitalized word (a name,
    a day) that the original lacks."""
    if not text.strip() or "\n" in text.strip():
        return "empty or several lines"
    if not 0.5 <= len(text) / max(1, len(original)) <= 3:
        return f"length {len(text)} vs {len(original)}"
    if set(_NUMBER.findall(text)) != set(_NUMBER.findall(original)):
        return "numbers differ"
    if len(_SENTENCE_END.findall(text.strip())) > len(_SENTENCE_END.findall(original.strip())):
        return "adds a sentence"
    known = {w.lower() for w in _WORD.findall(original)}
    sentences = re.split(r"(?<=[.!?:])\s+", text.strip())
    for sentence in sentences:
        for word in _WORD.findall(sentence)[1:]:
            if word[0].isupper() and word.lower() not in known and word != "I":
                return f"new name {word!r}"
    return None


class YesNo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: Literal["yes", "no"]
    reason: str = Field(max_length=100)


@dataclass(frozen=True)
class LLMVerdict:
    name: str
    answer: Literal["yes", "no", "unknown"]  # unknown: no valid answer after the retries
    reason: str


@dataclass
class InstanceVerdict:
    """Everything verification decided about one instance (one line of verdicts.jsonl)."""

    id: str
    kept: bool
    repaired: bool
    reason: str | None  # why it was dropped
    code: list[Verdict]
    llm: list[LLMVerdict] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VerificationResult:
    kept: list[Instance]
    verdicts: list[InstanceVerdict]

    @property
    def rejected(self) -> Counter[str]:
        return Counter(v.reason for v in self.verdicts if not v.kept and v.reason)

    @property
    def repaired(self) -> int:
        return sum(v.repaired and v.kept for v in self.verdicts)

    @property
    def reverted(self) -> int:
        return sum(not c.passed for v in self.verdicts for c in v.code if c.name == REWRITE_CHECK)

    @property
    def llm_answers(self) -> Counter[str]:
        """`check:answer` -> count, e.g. `clarity:no`."""
        return Counter(f"{c.name}:{c.answer}" for v in self.verdicts for c in v.llm)

    def stats(self) -> dict[str, Any]:
        return {
            "generated": len(self.verdicts),
            "verified": len(self.kept),
            "repaired": self.repaired,
            "rewrites_reverted": self.reverted,
            "rejected": dict(sorted(self.rejected.items())),
            "llm_checks": dict(sorted(self.llm_answers.items())),
        }


class Verifier:
    def __init__(
        self,
        domain: Domain,
        llm: LLM,
        *,
        llm_checks: LLMCheckMode = "advisory",
        llm_check_limit: int | None = None,
        max_tokens: int = 48,
    ) -> None:
        if llm_checks not in LLM_CHECK_MODES:
            raise ValueError(f"llm_checks must be one of {', '.join(LLM_CHECK_MODES)}")
        self.domain = domain
        self.llm = llm
        self.llm_checks = llm_checks
        self.llm_check_limit = llm_check_limit  # None: every instance; else a spot check
        self.max_tokens = max_tokens

    def verify(
        self,
        instances: list[Instance],
        plan: Plan,
        rewrites: Sequence[Rewrite] = (),
        progress: ProgressFactory = no_progress,
    ) -> VerificationResult:
        advance = progress("verifying (code)", len(instances))
        by_id: dict[str, list[Rewrite]] = {}
        for rewrite in rewrites:
            by_id.setdefault(rewrite.id, []).append(rewrite)
        verdicts, survivors = [], []
        for instance in instances:
            instance, checked = _check_rewrites(instance, by_id.get(instance.id, []))
            verdict, survivor = self._code(instance)
            verdict.code[:0] = checked
            verdicts.append(verdict)
            if survivor is not None:
                survivors.append((verdict, survivor))
            advance(1)
        if self.llm_checks != "off":
            for check in (c for c in plan.verification if c.kind == "llm"):
                self._ask(check, survivors, progress)
        kept = [survivor for verdict, survivor in survivors if verdict.kept]
        return VerificationResult(kept, verdicts)

    def _code(self, instance: Instance) -> tuple[InstanceVerdict, Instance | None]:
        verdicts = self.domain.verify(instance)
        if all(v.passed for v in verdicts):
            return InstanceVerdict(instance.id, True, False, None, verdicts), instance
        failed = next(v for v in verdicts if not v.passed)
        fixed = self.domain.repair(instance, verdicts)
        if fixed is not None:
            again = self.domain.verify(fixed)
            if all(v.passed for v in again):
                return InstanceVerdict(instance.id, True, True, None, verdicts + again), fixed
        return InstanceVerdict(instance.id, False, fixed is not None, failed.name, verdicts), None

    def _ask(
        self,
        check: CheckSpec,
        survivors: list[tuple[InstanceVerdict, Instance]],
        progress: ProgressFactory,
    ) -> None:
        asked = survivors if self.llm_check_limit is None else survivors[: self.llm_check_limit]
        conversations = [
            [
                {
                    "role": "user",
                    "content": f"A benchmark task:\n---\n{instance.prompt}\n---\n"
                    f"Question: {check.description} Answer yes or no, with a short reason.",
                }
            ]
            for _, instance in asked
        ]
        answers = self.llm.complete_json_many(
            conversations,
            YesNo,
            max_tokens=self.max_tokens,
            max_retries=1,
            advance=progress(f"verifying (llm: {check.name})", len(asked)),
        )
        for (verdict, _), answer in zip(asked, answers, strict=True):
            if isinstance(answer, StructuredOutputError):
                verdict.llm.append(LLMVerdict(check.name, "unknown", str(answer)))
                continue
            verdict.llm.append(LLMVerdict(check.name, answer.answer, answer.reason))
            if answer.answer == "no" and self.llm_checks == "enforce" and verdict.kept:
                verdict.kept, verdict.reason = False, f"llm:{check.name}"


def _check_rewrites(instance: Instance, rewrites: list[Rewrite]) -> tuple[Instance, list[Verdict]]:
    """Revert the rewrites that lost facts; rewrites a person already removed are skipped."""
    verdicts = []
    for rewrite in rewrites:
        if rewrite.text not in instance.prompt:
            continue
        problem = fact_problem(rewrite.original, rewrite.text)
        if problem is None:
            verdicts.append(Verdict(REWRITE_CHECK, True, rewrite.field))
            continue
        prompt = instance.prompt.replace(rewrite.text, rewrite.original, 1)
        instance = instance.model_copy(update={"prompt": prompt})
        verdicts.append(Verdict(REWRITE_CHECK, False, f"{rewrite.field}: {problem}; reverted"))
    return instance, verdicts
