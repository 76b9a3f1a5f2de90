"""A hand-written calendar generator, as `--llm-generator` asks the backend to write one (it
runs in the sandbox). Its reference is a naive guess and its prompt is short: the calendar
domain's verification recomputes the one and re-renders the other."""

import random

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
NAMES = ["Alice", "Bob", "Carol", "David", "Emma"]


def clock(minutes):
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def generate(params, seed):
    rng = random.Random(seed)
    people = rng.sample(NAMES, int(params.get("num_participants", 2)))
    days = sorted(rng.sample(DAYS, int(params.get("num_days", 2))), key=DAYS.index)
    granularity = int(params.get("granularity", 30))
    duration = rng.choice([d for d in (30, 60, 120) if d % granularity == 0])
    availability = {}
    for person in people:
        availability[person] = {}
        for day in days:
            start = rng.randrange(8 * 60, 12 * 60 + 1, 60)
            availability[person][day] = [f"{clock(start)}-{clock(start + 4 * 60)}"]
    prompt = f"Schedule a {duration} minute meeting for {', '.join(people)}."
    return {
        "prompt": prompt,
        "params": {"days_of_week": days, "granularity": granularity},
        "constraints": {"meeting_duration": duration},
        "metadata": {"availability": availability},
        "reference": f"{days[0]} 12:00-{clock(12 * 60 + duration)}",
    }
