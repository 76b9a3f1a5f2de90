"""The constrained text generation domain: write about a topic under checkable constraints.

Constraints and their code checkers are in `constraints.py`; every generated instance
carries a witness text (`witness.py`) as its reference, which proves the constraint set
satisfiable. The constrainedness of an instance is its number of constraints.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict

from benchagents.domains.base import Domain, Verdict, sample_plan_params
from benchagents.domains.text.constraints import TextConstraints, count_word, evaluate
from benchagents.domains.text.witness import build_witness
from benchagents.instance import Instance
from benchagents.plan import CheckSpec, ConstraintSpec, EvaluationPlan, Parameter, Plan
from reasonloop.benchmarks import Check
from reasonloop.rewards.extraction import answer_too_long

# topic -> words related to it (keywords, counted and excluded words are drawn from these)
TOPICS: dict[str, str] = {
    "the history of tea": "leaves china trade ceremony kettle brew cup green",
    "renewable energy": "solar wind grid battery power climate turbine sun",
    "learning a new language": "grammar vocabulary practice accent verbs fluency lessons speak",
    "city gardens": "soil seeds rooftop compost neighbors water flowers bees",
    "the ocean": "waves coral fish tides salt whales deep shore",
    "running a marathon": "training pace shoes miles finish breathing race stretch",
    "public libraries": "books quiet librarian borrow shelves reading card study",
    "bread baking": "flour yeast oven dough crust knead loaf salt",
    "space exploration": "rocket orbit astronaut moon mars launch stars probe",
    "board games": "dice strategy players turn rules board cards win",
    "bicycles in cities": "lanes traffic helmet commute wheels pedal bike park",
    "mountain hiking": "trail summit boots map weather views camp ridge",
}
END_PHRASES = (
    "Is there anything else I can help with?",
    "Thank you for reading.",
    "That is all for today.",
    "Let me know if you have further questions.",
)
JSON_KEYS = ("summary", "details", "audience", "conclusion", "tone")
# Pairs that cannot hold together: both ask for the answer's whole shape.
INCOMPATIBLE = frozenset(
    {
        frozenset({"json_keys", "bullet_list"}),
        frozenset({"json_keys", "num_sentences"}),
        frozenset({"json_keys", "end_phrase"}),
        frozenset({"bullet_list", "num_sentences"}),
    }
)
# Any greedy pick of compatible constraints reaches 8 (json_keys rules out three others).
MAX_CONSTRAINTS = 8
CONSTRAINT_DESCRIPTIONS = {
    "include_keywords": "each of these words appears (whole word, any case)",
    "exclude_words": "none of these words appears",
    "min_words": "at least this many words",
    "max_words": "at most this many words",
    "num_sentences": "exactly this many sentences",
    "keyword_frequency": "a word appears exactly / at least N times",
    "bullet_list": "a bullet list with exactly N items ('- ' lines)",
    "all_lowercase": "no capital letters",
    "end_phrase": "the text ends with this exact phrase",
    "json_keys": "the answer is a JSON object with these keys",
    "title": "a title wrapped in double angular brackets, <<like this>>",
}
ANSWER_INSTRUCTIONS = "Answer with the requested text only, without any preamble or comments."


class TextParams(BaseModel):
    """The generation parameters an instance records (sweep values are kept as extras)."""

    model_config = ConfigDict(extra="allow")

    topic: str


class TextDomain(Domain):
    name = "text"
    description = (
        "Constrained text generation: write a short text about a topic that satisfies "
        "keyword, length, sentence, format and ending constraints, each checked by code."
    )

    def default_plan(self) -> Plan:
        return Plan(
            domain=self.name,
            description=self.description,
            parameters=[
                Parameter(
                    name="num_constraints",
                    description="how many constraints an instance has (its constrainedness)",
                    kind="int",
                    low=1,
                    high=6,
                ),
                Parameter(
                    name="topic",
                    description="what the text is about",
                    kind="choice",
                    choices=list(TOPICS),
                ),
            ],
            constraints=[
                ConstraintSpec(name=n, description=d) for n, d in CONSTRAINT_DESCRIPTIONS.items()
            ],
            instance_schema={
                "type": "object",
                "properties": {
                    "params": TextParams.model_json_schema(),
                    "constraints": TextConstraints.model_json_schema(),
                },
            },
            verification=[
                CheckSpec(name=n, description=d, kind="code")
                for n, d in (
                    ("schema", "constraints parse and are typed"),
                    ("consistency", "no two constraints contradict each other"),
                    ("satisfiable", "a witness text built from the constraints passes them all"),
                    ("reference", "the stored reference passes every check"),
                    ("prompt", "the prompt states the topic and every constraint"),
                )
            ],
            evaluation=EvaluationPlan(
                answer_format=ANSWER_INSTRUCTIONS,
                metrics=["all_correct", "fraction_passed", "per_constraint", "by_constrainedness"],
            ),
        )

    def sample_params(self, plan: Plan, rng: random.Random) -> dict[str, Any]:
        params = sample_plan_params(plan, rng)
        params.setdefault("topic", rng.choice(list(TOPICS)))
        _num_constraints(params)
        return params

    def generate(self, params: dict[str, Any], rng: random.Random, instance_id: str) -> Instance:
        count = _num_constraints(params)
        topic = str(params.get("topic") or rng.choice(list(TOPICS)))
        vocabulary = tuple((TOPICS.get(topic) or " ".join(TOPICS.values())).split())
        for _ in range(100):
            constraints = _sample_constraints(count, vocabulary, rng)
            witness = build_witness(constraints)
            if witness is None or not all(ok for _, ok, _ in evaluate(witness, constraints)):
                continue
            instance = Instance(
                id=instance_id,
                prompt="",
                params={**params, "topic": topic, "num_constraints": count},
                constraints=constraints.model_dump(exclude_none=True),
                reference=witness,
            )
            return instance.model_copy(update={"prompt": render_prompt(instance)})
        raise RuntimeError(f"could not generate a satisfiable text instance from {params}")

    def verify(self, instance: Instance) -> list[Verdict]:
        try:
            TextParams.model_validate(instance.params)
            c = TextConstraints.model_validate(instance.constraints)
        except ValueError as e:
            return [Verdict("schema", False, " ".join(str(e).split()))]
        if not c.names():
            return [Verdict("schema", False, "no active constraint")]
        issues = inconsistencies(c)
        witness = build_witness(c)
        failing = [] if witness is None else [n for n, ok, _ in evaluate(witness, c) if not ok]
        shown = witness is not None and not failing
        ref_failing = (
            None
            if instance.reference is None
            else [n for n, ok, _ in evaluate(instance.reference, c) if not ok]
        )
        missing = _unmentioned(instance, c)
        return [
            Verdict("schema", True),
            Verdict("consistency", not issues, "; ".join(issues)),
            Verdict(
                "satisfiable",
                shown,
                "witness passes every check"
                if shown
                else "no witness within the length limits"
                if witness is None
                else f"witness fails: {', '.join(failing)}",
            ),
            Verdict(
                "reference",
                ref_failing == [],
                "no reference"
                if ref_failing is None
                else f"reference fails: {', '.join(ref_failing)}"
                if ref_failing
                else "reference passes every check",
            ),
            Verdict("prompt", not missing, f"prompt does not mention: {', '.join(missing)}"),
        ]

    def repair(self, instance: Instance, verdicts: list[Verdict]) -> Instance | None:
        failed = {v.name for v in verdicts if not v.passed}
        if failed & {"schema", "consistency", "satisfiable"}:
            return None
        if "reference" in failed:
            witness = build_witness(TextConstraints.model_validate(instance.constraints))
            instance = instance.model_copy(update={"reference": witness})
        if "prompt" in failed:
            instance = instance.model_copy(update={"prompt": render_prompt(instance)})
        return instance

    def check(self, instance: Instance, answer: str) -> list[Check]:
        c = TextConstraints.model_validate(instance.constraints)
        if answer is None or not answer.strip():
            return [Check(n, False, "malformed answer: empty") for n in c.names()]
        if too_long := answer_too_long(answer):
            return [Check(n, False, f"malformed answer: {too_long}") for n in c.names()]
        return [Check(n, ok, detail) for n, ok, detail in evaluate(answer.strip(), c)]

    def constrainedness(self, instance: Instance) -> int:
        return sum(1 for v in instance.constraints.values() if v is not None and v is not False)

    def answer_instructions(self) -> str:
        return ANSWER_INSTRUCTIONS

    def llm_fields(self, instance: Instance) -> dict[str, str]:
        """The topic: an LLM may propose another one (checks never depend on it)."""
        topic = instance.params.get("topic")
        return {"topic": topic} if topic and topic in instance.prompt else {}

    def apply_llm_fields(self, instance: Instance, fields: dict[str, str]) -> Instance:
        updated = super().apply_llm_fields(instance, fields)
        if "topic" in fields:
            updated = updated.model_copy(
                update={"params": {**instance.params, "topic": fields["topic"]}}
            )
        return updated


def inconsistencies(c: TextConstraints) -> list[str]:
    """Contradictions visible without writing any text."""
    issues = []
    names = set(c.names())
    issues += [
        f"{a} and {b} cannot both hold"
        for a, b in (sorted(p) for p in INCOMPATIBLE)
        if {a, b} <= names
    ]
    include = {w.lower() for w in c.include_keywords or ()}
    exclude = {w.lower() for w in c.exclude_words or ()}
    if include & exclude:
        issues.append(f"words both included and excluded: {', '.join(sorted(include & exclude))}")
    if c.keyword_frequency and c.keyword_frequency.word.lower() in exclude:
        issues.append(f"{c.keyword_frequency.word!r} must appear but is excluded")
    if c.min_words and c.max_words and c.min_words > c.max_words:
        issues.append(f"min_words {c.min_words} > max_words {c.max_words}")
    if c.max_words:
        for name, need in (
            ("num_sentences", c.num_sentences),
            ("bullet_list", c.bullet_list),
            ("keyword_frequency", c.keyword_frequency and c.keyword_frequency.count),
        ):
            if need and need > c.max_words:
                issues.append(f"{name} needs {need} words but max_words is {c.max_words}")
    if c.all_lowercase:
        upper = [t for t in [c.end_phrase or "", *(c.json_keys or ())] if t != t.lower()]
        if upper:
            issues.append(f"all_lowercase but required text has capitals: {', '.join(upper)}")
    if c.end_phrase and exclude:
        banned = [w for w in c.exclude_words or () if count_word(c.end_phrase, w)]
        if banned:
            issues.append(f"end_phrase uses excluded words: {', '.join(banned)}")
    return issues


def render_prompt(instance: Instance) -> str:
    """The task prompt from the instance's topic and constraints."""
    c = TextConstraints.model_validate(instance.constraints)
    topic = instance.params["topic"]
    rules = []
    if c.include_keywords:
        rules.append(f"Include the {_plural('keyword', c.include_keywords)}.")
    if c.exclude_words:
        rules.append(f"Do not use the {_plural('word', c.exclude_words)}.")
    if c.min_words:
        rules.append(f"Use at least {c.min_words} words.")
    if c.max_words:
        rules.append(f"Use at most {c.max_words} words.")
    if c.num_sentences:
        rules.append(f"Write exactly {c.num_sentences} sentences.")
    if f := c.keyword_frequency:
        rules.append(f'Use the word "{f.word}" {f.relation} {f.count} times.')
    if c.bullet_list:
        rules.append(
            f"Format the text as a bullet list of exactly {c.bullet_list} items, "
            'each on its own line starting with "- ".'
        )
    if c.all_lowercase:
        rules.append("Write everything in lowercase letters: no capital letters at all.")
    if c.end_phrase:
        rules.append(f'End the text with the exact phrase "{c.end_phrase}", nothing after it.')
    if c.json_keys:
        rules.append(f"Answer with a JSON object only, with the keys {_quoted(c.json_keys)}.")
    if c.title:
        rules.append("Give the text a title wrapped in double angular brackets, like <<title>>.")
    lines = [f"Write a short text about {topic}. Follow every instruction below."]
    lines += [f"- {rule}" for rule in rules]
    lines.append(ANSWER_INSTRUCTIONS)
    return "\n".join(lines)


def _unmentioned(instance: Instance, c: TextConstraints) -> list[str]:
    """The topic and constraint values the prompt does not state."""
    text = instance.prompt.lower()
    missing = [] if str(instance.params["topic"]).lower() in text else ["topic"]
    needles: dict[str, list[str]] = {
        "include_keywords": c.include_keywords or [],
        "exclude_words": c.exclude_words or [],
        "min_words": [str(c.min_words)],
        "max_words": [str(c.max_words)],
        "num_sentences": [str(c.num_sentences), "sentence"],
        "keyword_frequency": [c.keyword_frequency.word, str(c.keyword_frequency.count)]
        if c.keyword_frequency
        else [],
        "bullet_list": [str(c.bullet_list), "bullet"],
        "all_lowercase": ["lowercase"],
        "end_phrase": [c.end_phrase or ""],
        "json_keys": ["json", *(c.json_keys or [])],
        "title": ["<<"],
    }
    return missing + [n for n in c.names() if any(s.lower() not in text for s in needles[n])]


def _num_constraints(params: dict[str, Any]) -> int:
    try:
        count = int(params.get("num_constraints", 3))
    except (TypeError, ValueError):
        raise ValueError(
            f"num_constraints must be an integer, got {params['num_constraints']!r}"
        ) from None
    if not 1 <= count <= MAX_CONSTRAINTS:
        raise ValueError(f"num_constraints must be 1-{MAX_CONSTRAINTS}, got {count}")
    return count


def _sample_constraints(
    count: int, vocabulary: tuple[str, ...], rng: random.Random
) -> TextConstraints:
    names: list[str] = []
    for name in rng.sample(list(CONSTRAINT_DESCRIPTIONS), len(CONSTRAINT_DESCRIPTIONS)):
        if len(names) < count and all(frozenset({name, n}) not in INCOMPATIBLE for n in names):
            names.append(name)
    words = list(vocabulary)
    rng.shuffle(words)
    values: dict[str, Any] = {}
    if "include_keywords" in names:
        values["include_keywords"] = [words.pop() for _ in range(rng.randint(1, 3))]
    if "keyword_frequency" in names:
        values["keyword_frequency"] = {
            "word": words.pop(),
            "count": rng.randint(2, 4),
            "relation": rng.choice(["exactly", "at least"]),
        }
    if "exclude_words" in names:
        values["exclude_words"] = [words.pop() for _ in range(rng.randint(1, 2))]
    low = rng.choice([20, 30, 50, 80])
    if "min_words" in names:
        values["min_words"] = low
    if "max_words" in names:
        values["max_words"] = low + rng.choice([20, 40, 70]) if "min_words" in names else low + 40
    if "num_sentences" in names:
        values["num_sentences"] = rng.randint(2, 6)
    if "bullet_list" in names:
        values["bullet_list"] = rng.randint(3, 5)
    if "all_lowercase" in names:
        values["all_lowercase"] = True
    if "end_phrase" in names:
        phrase = rng.choice(END_PHRASES)
        values["end_phrase"] = phrase.lower() if "all_lowercase" in names else phrase
    if "json_keys" in names:
        values["json_keys"] = rng.sample(JSON_KEYS, rng.randint(2, 3))
    if "title" in names:
        values["title"] = True
    return TextConstraints.model_validate(values)


def _plural(noun: str, items: list[str]) -> str:
    return f"{noun}{'s' if len(items) > 1 else ''} {_quoted(items)}"


def _quoted(items: list[str]) -> str:
    return ", ".join(f'"{item}"' for item in items)
