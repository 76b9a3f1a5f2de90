"""One math problem and the way it is put to the model, shared by training and evaluation.

The model thinks first (the chain of thought that hard/soft/fuzzy modes decode differently),
then answers in a fixed, checkable format; the math reward reads the `\\boxed{}` answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ANSWER_INSTRUCTION = (
    "Solve the problem. Think step by step, then give the final answer as \\boxed{N}."
)


@dataclass(frozen=True)
class MathProblem:
    """A question with its reference answer (a number or a LaTeX expression)."""

    id: str
    question: str
    answer: str
    level: int = 0  # difficulty, for the built-in family (0 when unknown)
    family: str = ""  # which generator or file it came from
    metadata: dict[str, str] = field(default_factory=dict)


def chat_prompt(problem: MathProblem) -> list[dict[str, str]]:
    """The chat messages a problem is asked with."""
    return [{"role": "user", "content": f"{problem.question}\n{ANSWER_INSTRUCTION}"}]
