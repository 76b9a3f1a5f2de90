"""The testbed's supervised warm start: a random-init model taught worked solutions, cached.

RL can only sharpen what a policy sometimes does, so the testbed's model first learns the
task's format and most of its skill by supervised next-token training on worked solutions
(`softcot.carry`): the chat prompt as the sampler renders it, then the thought, the answer
marker and the boxed answer, with the loss on everything after the prompt. It is stopped
early on purpose: a policy that already solves everything leaves RL nothing to show.

The result is a plain HF checkpoint directory in the reasonloop cache, named by a hash of its
settings, written to a temporary directory and renamed into place under a file lock: repeated
runs (and concurrent ones) train it once, and a crash never leaves half a model behind.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from reasonloop.cache import build_once, cache_root
from reasonloop.models.loading import load_model
from reasonloop.sampling.decoder import Sampler
from softcot.carry import solution_text
from softcot.config import WarmStartSection
from softcot.problems import load_problems
from softcot.prompts import MathProblem, chat_prompt

FORMAT_VERSION = 1  # bump when the training recipe changes what a given config produces
REPORT_FILE = "warmstart.json"


def warm_start_dir(section: WarmStartSection) -> Path:
    """Where the checkpoint of `section` lives (whether or not it exists yet)."""
    key = json.dumps({"version": FORMAT_VERSION, **section.model_dump()}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_root() / "softcot-warmstart" / f"{section.init}-{digest}"


def warm_start(
    section: WarmStartSection, on_progress: Callable[[int, float], None] | None = None
) -> Path:
    """The checkpoint directory of `section`, trained first unless it is cached.

    `on_progress(step, loss)` is called after each training step.
    """
    progress = on_progress or (lambda step, loss: None)
    return build_once(
        warm_start_dir(section),
        lambda staging: _train(section, staging, progress),
        prefix=".training-",
    )


def sft_problems(section: WarmStartSection) -> list[MathProblem]:
    """The training problems, every source's in turn (so a batch mixes them)."""
    per_source = [
        load_problems(source, split="train", limit=section.examples, seed=section.seed)
        for source in section.sources
    ]
    for source, problems in zip(section.sources, per_source, strict=True):
        if not problems or "thought" not in problems[0].metadata:
            raise ValueError(f"warmstart source {source!r} has no worked solutions")
    return [p for group in zip(*per_source, strict=False) for p in group]


def encode_example(sampler: Sampler, problem: MathProblem) -> tuple[list[int], list[int]]:
    """(prompt ids, target ids) exactly as the sampler will see them: the prompt, then the
    thought, the answer marker and the boxed answer."""
    target = sampler.tokenizer.encode(solution_text(problem), add_special_tokens=False)
    return sampler.encode(chat_prompt(problem)), target


def _batch(examples: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ids, attention mask and labels (-100 on prompt and padding)."""
    width = max(len(p) + len(t) for p, t in examples)
    ids = torch.full((len(examples), width), pad_id)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), -100)
    for i, (prompt, target) in enumerate(examples):
        sequence = prompt + target
        ids[i, : len(sequence)] = torch.tensor(sequence)
        mask[i, : len(sequence)] = 1
        labels[i, len(prompt) : len(sequence)] = torch.tensor(target)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _train(
    section: WarmStartSection, out_dir: Path, on_progress: Callable[[int, float], None]
) -> None:
    from transformers import get_cosine_schedule_with_warmup

    problems = sft_problems(section)
    loaded = load_model(section.init, device="cpu", dtype=torch.float32, seed=section.seed)
    config, tokenizer = loaded.model.config, loaded.tokenizer
    config.initializer_range = section.init_std
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(section.seed)
        model = type(loaded.model)(config)
    model.generation_config = loaded.model.generation_config
    sampler = Sampler(model, tokenizer)
    examples = [encode_example(sampler, p) for p in problems]
    optimizer = torch.optim.AdamW(model.parameters(), lr=section.learning_rate)
    schedule = get_cosine_schedule_with_warmup(optimizer, section.warmup_steps, section.steps)
    rng = random.Random(section.seed)
    model.train()
    started, losses = time.perf_counter(), []
    for step in range(1, section.steps + 1):
        batch = _batch(rng.sample(examples, min(section.batch_size, len(examples))), sampler.pad_id)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        on_progress(step, losses[-1])
    model.eval()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    report = {
        "settings": section.model_dump(),
        "examples": len(examples),
        "final_loss": sum(losses[-10:]) / len(losses[-10:]),
        "seconds": time.perf_counter() - started,
    }
    (out_dir / REPORT_FILE).write_text(json.dumps(report, indent=2))
