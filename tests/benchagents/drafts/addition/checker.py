"""A hand-written checker, as the planner LLM would write one (it runs in the sandbox)."""

import re


def check(instance, answer):
    a, b = (int(n) for n in re.findall(r"\d+", instance["prompt"])[:2])
    numbers = re.findall(r"-?\d+", answer)
    got = int(numbers[-1]) if numbers else None
    want = a + b
    checks = [["sum", got == want, f"expected {want}, got {got}"]]
    if instance["constraints"]["even"]:
        checks.append(["parity", got is not None and got % 2 == want % 2, "parity"])
    return checks
