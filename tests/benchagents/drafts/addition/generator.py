"""A hand-written generator, as the planner LLM would write one (it runs in the sandbox)."""

import random


def generate(params, seed):
    rng = random.Random(seed)
    a, b = rng.randint(0, params["high"]), rng.randint(0, params["high"])
    constraints = {"sum": True, "even": params["even"]}
    prompt = f"What is {a} + {b}? Answer with the number only."
    return {"prompt": prompt, "constraints": constraints, "reference": str(a + b)}
