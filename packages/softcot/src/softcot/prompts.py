r"""One math problem and the way it is put to the model, shared by training and evaluation.

The prompt is a few-shot chat: three solved examples as earlier user/assistant turns, then the
question, so that even a 135M instruct model answers in a checkable form: a short calculation,
then `The answer is \boxed{N}.` Measured with SmolLM2-135M, greedy, on 64 level-0 problems:
an instruction alone gets ~0%, one example inlined in the question 5%, three example turns 23%.

The chain of thought is the calculation: it ends once the model has written the whole
`ANSWER_MARKER` (its first token, " The", alone does not end it; see
`reasonloop.sampling.thinking`), and the answer is decoded discretely up to the first `}`
(`ANSWER_STOP`), so exactly one complete answer is scored and a model is never rewarded for
repeating it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reasonloop.hashing import stable_hash
from reasonloop.sampling import Prompt

# Solved examples with different answers; each problem gets `SHOTS` of them in a rotation
# picked by its id. With a single fixed example, RL on sparse rewards learned to answer that
# example's number (\\boxed{6}) to every question: copying it was right just often enough.
EXAMPLES = (
    ("Ann has 2 cats and gets 4 more. How many cats does Ann have?", "2 + 4 = 6.", "6"),
    ("Leo has 9 stamps and gives away 5. How many stamps does Leo have left?", "9 - 5 = 4.", "4"),
    ("A box holds 3 rows of 5 eggs. How many eggs are in the box?", "3 * 5 = 15.", "15"),
    (
        "Mia reads 7 pages today and 4 pages tomorrow. How many pages does she read?",
        "7 + 4 = 11.",
        "11",
    ),
    ("There are 12 birds on a tree and 3 fly away. How many birds are left?", "12 - 3 = 9.", "9"),
)
SHOTS = 3
ANSWER_MARKER = " The answer is"  # ends the chain of thought (ThinkingConfig.end_marker)
ANSWER_STOP = ("}",)  # ends the answer, kept in its text (SamplingParams.include_stop)
MAX_GENERATED = 100_000  # problems a built-in family makes at most (count=10**9 fills memory)


@dataclass(frozen=True)
class MathProblem:
    """A question with its reference answer (a number or a LaTeX expression)."""

    id: str
    question: str
    answer: str
    level: int = 0  # difficulty, for the built-in family (0 when unknown)
    family: str = ""  # which generator or file it came from
    metadata: dict[str, str] = field(default_factory=dict)
    # Asked exactly so, when the source poses it (a Benchmark server's task); None: built by
    # `chat_prompt` from the question.
    prompt: Prompt | None = None


def chat_prompt(problem: MathProblem) -> Prompt:
    """What a problem is asked with: its own prompt if it has one, else `SHOTS` solved
    examples as earlier chat turns, then the question."""
    if problem.prompt is not None:
        return problem.prompt
    first = stable_hash(problem.id)
    messages = []
    for shot in range(SHOTS):
        question, working, answer = EXAMPLES[(first + shot) % len(EXAMPLES)]
        messages += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": f"{working} The answer is \\boxed{{{answer}}}."},
        ]
    return [*messages, {"role": "user", "content": problem.question}]
