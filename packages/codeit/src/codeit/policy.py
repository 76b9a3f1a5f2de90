"""The policy: a causal LM (via reasonloop-core) that reads demonstrations and writes a program.

Sampling follows the DSL's types (`codeit.typed_decoding`), so every finished sample parses
and type-checks; learning is plain supervised fine-tuning on (demonstrations, program) pairs
drawn from the replay buffer, the paper's learning stage. LoRA by default, so a CPU can
afford it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import torch

from codeit.data import Example
from codeit.grid import grid_to_sparse_text, grid_to_text
from codeit.typed_decoding import TypedDecoder
from reasonloop.configfile import ModelSection
from reasonloop.models.loading import LoadedModel
from reasonloop.models.lora import with_lora
from reasonloop.sampling import SamplingParams
from reasonloop.sampling.decoder import Sampler

INSTRUCTION = "Write a program in the grid DSL that turns each input grid into its output grid.\n"
PROGRAM = "program:\n"


Encoding = Literal["dense", "sparse"]


def task_prompt(
    examples: Sequence[Example],
    max_examples: int,
    *,
    encoding: Encoding = "dense",
    max_tokens: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> str:
    """The text the policy conditions on: demonstration pairs, then `program:`.

    Up to `max_examples` pairs, each grid `dense` (a row of digits per line) or `sparse` (size,
    background, the other cells: the official CodeIt prompt). With `max_tokens`, pairs are
    added only while the prompt stays within that many tokens by `count_tokens` (the official
    prompt shows up to 10 demonstrations within 512 tokens); the first is always shown.
    """
    if max_tokens is not None and count_tokens is None:
        raise ValueError("a token budget needs count_tokens")
    render = grid_to_sparse_text if encoding == "sparse" else grid_to_text
    parts = [INSTRUCTION]
    for example in examples[:max_examples]:
        pair = f"input:\n{render(example.input)}\noutput:\n{render(example.output)}\n"
        if len(parts) > 1 and _over(max_tokens, count_tokens, "".join([*parts, pair, PROGRAM])):
            break
        parts.append(pair)
    parts.append(PROGRAM)
    return "".join(parts)


def _over(max_tokens: int | None, count_tokens: Callable[[str], int] | None, text: str) -> bool:
    """Whether `text` exceeds the token budget (there is none when `max_tokens` is None)."""
    return max_tokens is not None and count_tokens is not None and count_tokens(text) > max_tokens


@dataclass(frozen=True)
class Lesson:
    """One supervised pair: the prompt of some examples and a program that maps them."""

    prompt: str
    program: str


class Policy:
    """Samples programs for prompts and learns from lessons; owns its optimizer."""

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        model_config: ModelSection,
        learning_rate: float,
        max_grad_norm: float,
    ) -> None:
        """`model_config` says whether and how LoRA adapters go on `loaded.model`."""
        self.loaded = loaded
        self.model = model = with_lora(loaded.model, model_config)
        self.tokenizer = loaded.tokenizer
        self.max_grad_norm = max_grad_norm
        trainable = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=learning_rate)
        self.sampler = Sampler(model, loaded.tokenizer)

    @cached_property
    def typed(self) -> TypedDecoder:
        """The type-aware token mask, built once (its masks are cached across batches)."""
        return TypedDecoder(self.tokenizer, self.model.config.vocab_size, self.sampler.eos_ids)

    def sample(
        self,
        prompts: Sequence[str],
        *,
        n: int,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> list[list[str]]:
        """`n` program texts per prompt; every one that is not cut off by `max_new_tokens`
        parses and type-checks (decoding follows the DSL's types)."""
        self.model.eval()
        params = SamplingParams(
            max_new_tokens=max_new_tokens, temperature=temperature, n=n, seed=seed
        )
        constraint = self.typed.constraint(len(prompts) * n, max_new_tokens)
        groups = self.sampler.generate(list(prompts), params, constraint=constraint)
        return [[c.text for c in group] for group in groups]

    def count_tokens(self, text: str) -> int:
        """The length of `text` in the policy's tokens (for a prompt's token budget)."""
        return len(self.tokenizer.encode(text))

    def learn(self, lessons: Sequence[Lesson]) -> float:
        """One optimizer step of next-token loss on the programs (prompts are not scored)."""
        self.model.train()
        ids, attention, targets = self._batch(lessons)
        # Left padding puts every program at the right edge, so the vocabulary projection is
        # needed for the last `width` positions only -- the prompts' logits are never built.
        width = targets.shape[1]
        positions = (attention.cumsum(dim=1) - 1).clamp(min=0)  # as the sampler numbers them
        out = self.model(
            input_ids=ids,
            attention_mask=attention,
            position_ids=positions,
            logits_to_keep=width + 1,
        )
        predicted = out.logits[:, :-1].float()
        loss = torch.nn.functional.cross_entropy(
            predicted.reshape(-1, predicted.shape[-1]), targets.reshape(-1), ignore_index=-100
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        torch.nn.utils.clip_grad_norm_(trainable, self.max_grad_norm)
        self.optimizer.step()
        self.model.eval()
        return float(loss.detach())

    def _batch(self, lessons: Sequence[Lesson]) -> tuple[torch.Tensor, ...]:
        """Left-padded prompt+program ids, their mask, and the program tokens to predict
        (right-aligned, -100 where a shorter program leaves room)."""
        eos = self.tokenizer.eos_token_id
        rows = []
        for lesson in lessons:
            prompt = self.tokenizer.encode(lesson.prompt)
            program = [*self.tokenizer.encode(lesson.program, add_special_tokens=False), eos]
            rows.append((prompt + program, program))
        length = max(len(tokens) for tokens, _ in rows)
        width = max(len(program) for _, program in rows)
        ids = torch.full((len(rows), length), self.sampler.pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), length), dtype=torch.long)
        targets = torch.full((len(rows), width), -100, dtype=torch.long)
        for i, (tokens, program) in enumerate(rows):
            ids[i, length - len(tokens) :] = torch.tensor(tokens)
            attention[i, length - len(tokens) :] = 1
            targets[i, width - len(program) :] = torch.tensor(program)
        device = self.model.device
        return ids.to(device), attention.to(device), targets.to(device)
