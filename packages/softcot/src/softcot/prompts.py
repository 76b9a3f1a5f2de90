"""One math problem and the way it is put to the model, shared by training and evaluation.

The prompt shows one solved example, so that even a 135M instruct model answers in a checkable
form: a short calculation, then `The answer is \\boxed{N}.` (an instruction alone gets ~0%
from SmolLM2-135M; the example gets ~25% on the easy levels). The chain of thought is the
calculation: it ends where the model is about to write `ANSWER_MARKER`, the marker is fed, and
the answer is decoded discretely up to the first `}` (`ANSWER_STOP`), so exactly one complete
answer is scored and a model is never rewarded for repeating it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EXAMPLE = (
    "Example: Ann has 2 cats and gets 4 more. How many cats does Ann have?\n"
    "2 + 4 = 6. The answer is \\boxed{6}.\n\n"
)
ANSWER_MARKER = " The answer is"  # ends the chain of thought (ThinkingConfig.end_marker)
ANSWER_STOP = ("}",)  # ends the answer, kept in its text (SamplingParams.include_stop)


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
    return [{"role": "user", "content": EXAMPLE + problem.question}]
