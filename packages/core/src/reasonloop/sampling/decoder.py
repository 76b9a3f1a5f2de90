"""The batched decoder: KV cache, left padding, per-row parameters, thinking modes.

One loop serves plain decoding, grammar-constrained answers and the three chain-of-thought
modes. Each row of the batch is one sample of one prompt; rows leave the batch (and the KV
cache) as soon as they finish, so a long sample does not make short ones pay, and a server
adds the rows of new requests to the running batch between two steps (`RunningBatch`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from reasonloop.extras import requires

with requires("models"):
    import torch
    from transformers import PreTrainedModel

from reasonloop.field_error import FieldError
from reasonloop.hashing import stable_hash
from reasonloop.limits import (
    MAX_CHAT_MESSAGES,
    MAX_END_MARKER_CHARS,
    MAX_END_MARKER_TOKENS,
    MAX_PROMPT_CHARS,
    shown,
)
from reasonloop.sampling.grammar import GrammarCompilerCache, RowConstraint, RowGrammars
from reasonloop.sampling.kv_cache import SlotCache, Span, new_cache, plain_attention
from reasonloop.sampling.logits import (
    RowSettings,
    adjust_logits,
    choose_tokens,
    draw,
    scaled_log_probs,
)
from reasonloop.sampling.packed import NO_MASK, PackedStep, Segment, accept_packed_passes
from reasonloop.sampling.params import Grammar, Prompt, SamplingParams, ThinkingConfig
from reasonloop.sampling.prefix_cache import Layers, PrefixCache
from reasonloop.sampling.text import AnswerText
from reasonloop.sampling.thinking import (
    EndMarker,
    embedding_matrix,
    gaussian_log_density,
    mixture_mean,
    noise_std,
)

_MARKERS_CACHED = 1024  # end markers kept tokenized


@dataclass
class ThinkingTrace:
    """What happened in one chain of thought; enough to recompute its log-probability.

    The end rule is in `reasonloop.sampling.thinking`: a thought that produced the marker
    holds the marker's steps as its last ones; one cut by its budget is followed by
    `forced_ids`, the marker's tokens it had not produced.
    """

    mode: str
    tau: float
    sigma: float  # absolute noise std (0 for the greedy variants)
    tokens: list[int]  # every step's chosen token: hard: the fed one; soft/fuzzy: the argmax
    inputs: torch.Tensor | None  # soft/fuzzy: [steps, hidden] fed inputs, as fed
    marker_ids: list[int]
    ended_by: Literal["marker", "budget"]
    marker_steps: int = 0  # how many of the marker's tokens the last steps produced
    text: str = ""  # the thought without the (begun) marker at its end

    @property
    def forced_ids(self) -> list[int]:
        """The tokens fed after the thought, unscored: none when it produced the marker."""
        return self.marker_ids[self.marker_steps :]


@dataclass
class Completion:
    """One sample of one prompt."""

    prompt_index: int
    sample_index: int
    prompt_ids: list[int]
    token_ids: list[int]  # the answer's tokens (EOS included when it ended the answer)
    text: str
    finish_reason: Literal["stop", "length"]
    answer_temperature: float  # the temperature the answer log-probs are taken at
    step_log_probs: torch.Tensor  # float64 log-probs: CoT steps, then answer tokens
    thinking: ThinkingTrace | None = None
    token_logprobs: list[float] | None = None  # the answer tokens', when `logprobs` was asked
    # per answer token, its `top_logprobs` most likely (token id, log-prob), most likely first
    top_logprobs: list[list[tuple[int, float]]] | None = None

    @property
    def decoded_tokens(self) -> int:
        """Steps decoded: chain-of-thought steps plus answer tokens (what usage counts)."""
        steps = len(self.thinking.tokens) if self.thinking is not None else 0
        return steps + len(self.token_ids)


@dataclass
class StreamEvent:
    """Progress of one row after a decoding step."""

    prompt_index: int
    sample_index: int
    thinking_delta: str = ""
    text_delta: str = ""
    completion: Completion | None = None  # set once, when the row finishes
    # the answer tokens decided since the row's last event, with their log-probs (and top
    # alternatives) when `logprobs` was asked: a stream can send them chunk by chunk
    token_ids: list[int] = field(default_factory=list)
    token_logprobs: list[float] = field(default_factory=list)
    top_logprobs: list[list[tuple[int, float]]] = field(default_factory=list)


@dataclass
class _Group:
    """The rows one `RunningBatch.add` call brought: whose they are, when they are cancelled,
    what constrains their answers (rows numbered prompt by prompt, `n` each)."""

    owner: Any
    cancelled: Callable[[int], bool] | None
    constraint: RowConstraint | None
    remaining: int  # rows not yet finished or cancelled


@dataclass
class _Row:
    prompt_index: int
    sample_index: int
    prompt_ids: list[int]
    params: SamplingParams
    generator: torch.Generator
    thinking: bool
    answer: AnswerText
    thought: AnswerText
    forced: list[int] = field(default_factory=list)
    thought_tokens: list[int] = field(default_factory=list)
    thought_inputs: list[torch.Tensor] = field(default_factory=list)
    ended_by: Literal["marker", "budget"] = "marker"
    matched: int = 0  # how many of the end marker's tokens the thought ends with
    answer_ids: list[int] = field(default_factory=list)
    log_probs: list[float] = field(default_factory=list)
    top_logprobs: list[list[tuple[int, float]]] = field(default_factory=list)
    evented: int = 0  # answer tokens already carried by an event
    position: int = 0
    tau: float = 0.0  # CoT temperature
    sigma: float = 0.0  # absolute noise std of soft/fuzzy thinking
    group: _Group | None = None
    group_row: int = 0  # the row's number within its group (its constraint's row)


def _group_of(row: _Row) -> _Group:
    """The group of a `RunningBatch`'s row (`add` gives every row one)."""
    if row.group is None:
        raise RuntimeError(f"a running batch's row has no group (prompt {row.prompt_index})")
    return row.group


class Sampler:
    """Decodes batches of prompts with one HF causal LM (CUDA or CPU, same code)."""

    def __init__(
        self, model: PreTrainedModel, tokenizer: Any, *, grammar_time_limit_s: float | None = None
    ) -> None:
        """`grammar_time_limit_s`: compile grammars in a worker process under this limit (a
        server's choice: a request's grammar can take minutes); None compiles in-process."""
        self.model = model
        self.tokenizer = tokenizer
        self.grammar_time_limit_s = grammar_time_limit_s
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        if tokenizer.eos_token_id is not None:
            eos_ids.add(tokenizer.eos_token_id)
        self.eos_ids = frozenset(eos_ids)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids)
        self.context_length = getattr(model.config, "max_position_embeddings", None) or 2**31
        self._grammars: GrammarCompilerCache | None = None
        self._markers: dict[str, EndMarker] = {}
        self.prefix_cache: PrefixCache | None = None  # a server's: prompts' keys kept across calls

    @property
    def vocab_size(self) -> int:
        """How many token ids the model embeds (0..vocab_size-1)."""
        embeddings = cast("torch.nn.Embedding", self.model.get_input_embeddings())
        return embeddings.num_embeddings

    # ---- public API -------------------------------------------------------------

    def encode(self, prompt: Prompt) -> list[int]:
        """Token ids of a prompt: text, ids, or chat messages (rendered with the chat
        template and the generation prompt)."""
        if isinstance(prompt, str):
            return list(self.tokenizer.encode(prompt))
        items = list(prompt)
        if items and isinstance(items[0], dict):
            rendered = self.tokenizer.apply_chat_template(
                items, add_generation_prompt=True, tokenize=False
            )
            return list(self.tokenizer.encode(rendered, add_special_tokens=False))
        return [int(t) for t in cast("list[int]", items)]  # not messages: token ids

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | Sequence[SamplingParams],
        *,
        constraint: RowConstraint | None = None,
    ) -> list[list[Completion]]:
        """Decode every prompt; returns, per prompt, its `n` completions in order.

        `constraint` (instead of the params' grammars) masks and follows every row's answer
        tokens: a constraint no grammar can state, such as codeit's typed programs."""
        results: list[list[Completion]] = [[] for _ in prompts]
        for event in self._run(prompts, params, stream_text=False, constraint=constraint):
            if event.completion is not None:
                results[event.prompt_index].append(event.completion)
        for group in results:  # rows finish in any order
            group.sort(key=lambda c: c.sample_index)
        return results

    def stream(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | Sequence[SamplingParams],
        *,
        cancelled: Callable[[int], bool] | None = None,
        grammars: Mapping[Grammar, Any] | None = None,
    ) -> Iterator[StreamEvent]:
        """Like `generate`, but yields text deltas as they are decoded.

        `cancelled(prompt_index)` is asked after every step; the rows of a prompt for which
        it is true leave the batch without a final event (a server uses it when a client
        goes away). `grammars` are the params' grammars compiled beforehand (`compile_grammar`):
        a server compiles in its request threads, never in the decoding loop.
        """
        return self._run(prompts, params, stream_text=True, cancelled=cancelled, grammars=grammars)

    def validate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | Sequence[SamplingParams],
        *,
        grammars: Mapping[Grammar, Any] | None = None,
    ) -> list[list[int]]:
        """Check a request without decoding it; returns the prompts' token ids.

        Raises FieldError naming the field at fault: an empty or too long prompt (text too long to
        fit is refused before it is tokenized), a token id outside the vocabulary, an end marker
        that encodes to nothing, an invalid grammar (which is compiled and cached here unless
        it is in `grammars`, compiled already).
        """
        if isinstance(prompts, str):
            raise FieldError("prompts", "prompts must be a list of prompts, not one string")
        per_prompt = [params] * len(prompts) if isinstance(params, SamplingParams) else list(params)
        if len(per_prompt) != len(prompts):
            raise ValueError(f"got {len(prompts)} prompts but {len(per_prompt)} SamplingParams")
        for i, prompt in enumerate(prompts):
            self._check_size(i, prompt)
        prompt_ids = [self.encode(p) for p in prompts]
        vocab = self.vocab_size
        for i, ids in enumerate(prompt_ids):
            if not ids:
                raise FieldError("prompt", f"prompt {i} is empty")
            if len(ids) >= self.context_length:
                raise FieldError(
                    "prompt",
                    f"prompt {i} has {len(ids)} tokens; the context length is "
                    f"{self.context_length}",
                )
            outside = next((k for k, t in enumerate(ids) if not 0 <= t < vocab), None)
            if outside is not None:
                raise FieldError(
                    "prompt",
                    f"prompt {i}: token id {shown(ids[outside])} at position {outside} is not "
                    f"in the vocabulary (0..{vocab - 1})",
                )
        for p in dict.fromkeys(per_prompt):
            for k, (token, _) in enumerate(p.logit_bias):
                if token >= vocab:
                    raise FieldError(
                        "logit_bias",
                        f"logit_bias[{k}]: token id {token} is not in the vocabulary "
                        f"(0..{vocab - 1})",
                    )
        for p in dict.fromkeys(per_prompt):
            if p.thinking is not None:
                self._end_marker(p.thinking.end_marker)
            if p.grammar is not None and p.grammar not in (grammars or {}):
                self.compile_grammar(p.grammar)
        return prompt_ids

    @functools.cached_property
    def max_prompt_chars(self) -> int:
        """Characters beyond which a text cannot fit the context: no token covers more
        characters than the longest one in the vocabulary."""
        longest = max((len(token) for token in self.tokenizer.get_vocab()), default=1)
        return min(MAX_PROMPT_CHARS, self.context_length * max(longest, 1))

    def _check_size(self, i: int, prompt: Prompt) -> None:
        """Refuse a prompt too large to fit before tokenizing it (tokenizing costs memory)."""
        if isinstance(prompt, str):
            chars = len(prompt)
        elif prompt and isinstance(prompt[0], dict):
            if len(prompt) > MAX_CHAT_MESSAGES:
                raise FieldError(
                    "prompt",
                    f"prompt {i} has {len(prompt)} messages, the limit is {MAX_CHAT_MESSAGES}",
                )
            messages = cast("Sequence[dict[str, str]]", prompt)  # its first item is a message
            chars = sum(len(m.get("content", "")) for m in messages)
        else:
            if len(prompt) >= self.context_length:
                raise FieldError(
                    "prompt",
                    f"prompt {i} has {len(prompt)} tokens; the context length is "
                    f"{self.context_length}",
                )
            return
        if chars > self.max_prompt_chars:
            raise FieldError(
                "prompt",
                f"prompt {i} has {chars} characters, more than fit the context "
                f"(at most {self.max_prompt_chars})",
            )

    def max_steps(self, params: SamplingParams) -> int:
        """The most decoding steps one row of `params` can take: its chain of thought, the
        end marker's tokens (each fed as one step), then the answer."""
        steps = params.max_new_tokens
        if params.thinking is not None:
            marker = self._end_marker(params.thinking.end_marker)
            steps += params.thinking.max_tokens + len(marker.ids)
        return steps

    # ---- the loop -----------------------------------------------------------------

    def _run(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | Sequence[SamplingParams],
        *,
        stream_text: bool,
        cancelled: Callable[[int], bool] | None = None,
        grammars: Mapping[Grammar, Any] | None = None,
        constraint: RowConstraint | None = None,
    ) -> Iterator[StreamEvent]:
        prompt_ids = self.validate(prompts, params, grammars=grammars)
        if not prompt_ids:
            return
        batch = RunningBatch(self, stream_text=stream_text)
        batch.add([Joining(prompt_ids, params, None, cancelled, grammars, constraint)])
        while batch.busy:
            batch.forward()
            if failed := batch.take_failed():
                raise failed[0][1]  # a lone request: nobody else to decode
            events, _ = batch.decide()
            yield from (event for _, event in events)

    def _make_rows(
        self,
        prompt_ids: list[list[int]],
        per_prompt: list[SamplingParams],
        embeddings: torch.Tensor,
    ) -> list[_Row]:
        device = self.model.device
        rows = []
        rms: float | None = None  # the embeddings' RMS: one pass over E per call, not per row
        for i, (ids, p) in enumerate(zip(prompt_ids, per_prompt, strict=True)):
            sigma = 0.0
            if p.thinking is not None and p.thinking.mode != "hard":
                rms = noise_std(embeddings, 1.0) if rms is None else rms
                sigma = p.thinking.noise_scale * rms
            for j in range(p.n):
                seed = p.seed if p.seed is not None else int(torch.randint(2**62, (1,)).item())
                generator = torch.Generator(device=device)
                generator.manual_seed(stable_hash(seed, j))
                rows.append(
                    _Row(
                        prompt_index=i,
                        sample_index=j,
                        prompt_ids=ids,
                        params=p,
                        generator=generator,
                        thinking=p.thinking is not None,
                        answer=AnswerText(self.tokenizer, p.stop, p.include_stop),
                        thought=AnswerText(self.tokenizer, ()),
                        position=len(ids),
                        tau=p.thinking.tau if p.thinking is not None else 0.0,
                        sigma=sigma,
                    )
                )
        return rows

    def _row_grammars(
        self, rows: list[_Row], compiled: Mapping[Grammar, Any]
    ) -> RowGrammars | None:
        if all(r.params.grammar is None for r in rows):
            return None
        row_grammars = [
            None
            if (g := r.params.grammar) is None
            else compiled[g]
            if g in compiled
            else self.compile_grammar(g)
            for r in rows
        ]
        return RowGrammars(row_grammars, self.model.config.vocab_size)

    def compile_grammar(self, grammar: Grammar) -> Any:
        """The grammar compiled for this vocabulary (cached); FieldError naming the field if
        it is invalid, too large, or slower to compile than `grammar_time_limit_s`."""
        if self._grammars is None:
            self._grammars = GrammarCompilerCache(
                self.tokenizer,
                self.model.config.vocab_size,
                sorted(self.eos_ids),
                time_limit_s=self.grammar_time_limit_s,
            )
        return self._grammars.compile(grammar)

    def _advance_thinking(
        self,
        rows: list[_Row],
        active: list[int],
        logits: torch.Tensor,
        embeddings: torch.Tensor,
        step: _Step,
    ) -> None:
        """Choose the next input of every row still in (or leaving) its chain of thought.

        The end rule (see `reasonloop.sampling.thinking`): a row stops thinking once its last
        chosen tokens spell the whole end marker, or, when its budget is spent, is fed the
        marker's missing tokens before its answer.
        """
        thinking: list[int] = []  # the rows choosing a step of their thought now
        configs: list[ThinkingConfig] = []  # their thinking settings
        for i, r in enumerate(active):
            row = rows[r]
            if row.forced:
                step.tokens[i] = row.forced.pop(0)
                step.phase_done.add(i)
                continue
            config = row.params.thinking
            if not row.thinking or config is None:
                continue
            step.phase_done.add(i)
            marker = self._end_marker(config.end_marker)
            out_of_room = row.position + len(marker.ids) >= self.context_length - 1
            if out_of_room or len(row.thought_tokens) >= config.max_tokens:
                row.ended_by = "budget"
                row.thinking = False
                row.forced = list(marker.ids[row.matched :])
                step.tokens[i] = row.forced.pop(0)
                continue
            thinking.append(i)
            configs.append(config)
        if not thinking:
            return
        # Every thinking row's choice at once, read back in one transfer: the argmax (the
        # chosen token of soft, fuzzy and greedy hard steps), replaced by a seeded draw for
        # hard steps at tau > 0, whose log-prob is taken at tau (greedy ones' at 1).
        device = logits.device
        z = logits[thinking].float()
        tokens = z.argmax(dim=-1)
        hard = [k for k, config in enumerate(configs) if config.mode == "hard"]
        chosen_lp = torch.zeros(len(thinking), dtype=torch.float64, device=device)
        if hard:
            taus = torch.tensor([rows[active[thinking[k]]].tau for k in hard], device=device)
            log_probs = scaled_log_probs(z[hard], taus)
            drawn = [j for j, k in enumerate(hard) if rows[active[thinking[k]]].tau > 0]
            if drawn:
                generators = [rows[active[thinking[hard[j]]]].generator for j in drawn]
                hard_tokens = tokens[hard]
                hard_tokens[drawn] = draw(log_probs[drawn].exp(), generators)
                tokens[hard] = hard_tokens
            chosen_lp[hard] = log_probs.gather(1, tokens[hard][:, None])[:, 0].double()
        chosen = torch.stack([tokens.double(), chosen_lp], dim=1).tolist()
        soft: list[int] = []
        for k, i in enumerate(thinking):
            row = rows[active[i]]
            token = int(chosen[k][0])
            marker = self._end_marker(configs[k].end_marker)
            row.thought_tokens.append(token)
            row.matched = marker.advance(row.matched, token)
            if row.matched == len(marker.ids):
                row.thinking = False  # this step is still fed: the answer comes next
            if configs[k].mode == "hard":
                step.tokens[i] = token
                row.log_probs.append(chosen[k][1])
            else:
                soft.append(i)
        if soft:
            self._soft_inputs([rows[active[i]] for i in soft], soft, logits, embeddings, step)

    @staticmethod
    def _soft_inputs(
        rows: list[_Row],
        steps: list[int],
        logits: torch.Tensor,
        embeddings: torch.Tensor,
        step: _Step,
    ) -> None:
        """Soft and fuzzy rows' inputs: the mixture p·E plus each row's seeded noise, with
        their Gaussian log-densities (read back in one transfer)."""
        device = logits.device
        taus = torch.tensor([row.tau for row in rows], device=device)
        means = mixture_mean(logits[steps], taus[:, None], embeddings)
        noise = torch.stack(
            [torch.randn(means.shape[1], generator=row.generator, device=device) for row in rows]
        )
        sigmas = torch.tensor([row.sigma for row in rows], device=device)
        inputs = (means + sigmas[:, None] * noise).to(embeddings.dtype)
        sigmas64 = torch.tensor([row.sigma for row in rows], dtype=torch.float64, device=device)
        densities = gaussian_log_density(inputs, means, sigmas64).tolist()
        for row, i, x, density in zip(rows, steps, inputs, densities, strict=True):
            row.log_probs.append(density)
            row.thought_inputs.append(x)
            step.soft_inputs[i] = x

    def _end_marker(self, marker: str) -> EndMarker:
        """The marker's tokens (cached); ValueError if it has none or is longer than the
        limits: each of its tokens may cost a decoding step of the whole batch."""
        found = self._markers.get(marker)
        if found is None:
            if len(marker) > MAX_END_MARKER_CHARS:
                raise FieldError(
                    "thinking.end_marker",
                    f"thinking.end_marker has {len(marker)} characters, the limit is "
                    f"{MAX_END_MARKER_CHARS}",
                )
            ids = self.tokenizer.encode(marker, add_special_tokens=False)
            if not ids:
                raise FieldError(
                    "thinking.end_marker", f"thinking.end_marker {marker!r} encodes to no tokens"
                )
            if len(ids) > MAX_END_MARKER_TOKENS:
                raise FieldError(
                    "thinking.end_marker",
                    f"thinking.end_marker is {len(ids)} tokens, the limit is "
                    f"{MAX_END_MARKER_TOKENS}",
                )
            if len(self._markers) >= _MARKERS_CACHED:  # distinct markers sent by clients
                self._markers.clear()
            found = self._markers[marker] = EndMarker.of(ids)
        return found

    def _advance_answers(
        self,
        rows: list[_Row],
        active: list[int],
        logits: torch.Tensor,
        live: RowSettings,
        step: _Step,
    ) -> None:
        """Choose the next answer token of every row in its answer phase (rows of different
        requests may carry different constraints)."""
        answering = [i for i, r in enumerate(active) if i not in step.phase_done]
        if not answering:
            return
        if len(answering) == len(active):
            z, sub = logits.float(), live
        else:
            index = torch.tensor(answering, device=logits.device)
            z, sub = logits[index].float(), live.select(index)
        constrained: dict[int, tuple[RowConstraint, list[int], list[int]]] = {}
        for k, i in enumerate(answering):
            group = rows[active[i]].group
            if group is not None and group.constraint is not None:
                entry = constrained.setdefault(id(group), (group.constraint, [], []))
                entry[1].append(k)
                entry[2].append(rows[active[i]].group_row)
        for constraint, positions, group_rows in constrained.values():
            if len(positions) == len(answering):
                constraint.mask(z, group_rows)
            else:
                part = z[positions]
                constraint.mask(part, group_rows)
                z[positions] = part
        answer_rows = [rows[active[i]] for i in answering]
        if any(row.params.adjusts_logits for row in answer_rows):
            adjust_logits(
                z,
                [row.params for row in answer_rows],
                [row.prompt_ids for row in answer_rows],
                [row.answer_ids for row in answer_rows],
            )
        log_probs = scaled_log_probs(z, sub.temperature)
        chosen = choose_tokens(log_probs, sub, [rows[active[i]].generator for i in answering])
        lp = log_probs.gather(1, chosen[:, None])[:, 0]
        pairs = torch.stack([chosen.double(), lp.double()], dim=1).tolist()  # one transfer
        most = max(row.params.top_logprobs for row in answer_rows)
        if most:
            top_lp, top_ids = (t.tolist() for t in log_probs.topk(most, dim=-1))
        for k, (i, (token_value, token_lp)) in enumerate(zip(answering, pairs, strict=True)):
            row = rows[active[i]]
            token = int(token_value)
            row.answer_ids.append(token)
            row.log_probs.append(token_lp)
            if want := row.params.top_logprobs:
                row.top_logprobs.append(list(zip(top_ids[k][:want], top_lp[k][:want], strict=True)))
            step.tokens[i] = token
            p = row.params
            if row.params.stop:
                row.answer.update(row.answer_ids)
            constraint = row.group.constraint if row.group is not None else None
            grammar_done = constraint is not None and constraint.accept(row.group_row, token)
            if (token in self.eos_ids and not p.ignore_eos) or grammar_done or row.answer.stopped:
                step.finish[i] = "stop"
            elif len(row.answer_ids) >= p.max_new_tokens or row.position + 1 >= self.context_length:
                step.finish[i] = "length"

    def _event(
        self, row: _Row, finished: Literal["stop", "length"] | None, *, final: bool
    ) -> StreamEvent | None:
        # the tokens that may be the marker's beginning are held back until it is known
        row.thought.update(row.thought_tokens[: len(row.thought_tokens) - row.matched])
        if not row.params.stop or final:
            row.answer.update(row.answer_ids)
        event = StreamEvent(
            row.prompt_index,
            row.sample_index,
            thinking_delta=row.thought.delta(final=final),
            text_delta=row.answer.delta(final=final),
        )
        if finished is not None:
            event.completion = self._completion(row, finished)
        if not (event.thinking_delta or event.text_delta or event.completion):
            return None
        if row.params.logprobs:
            new = slice(row.evented, len(row.answer_ids))
            answer_lps = row.log_probs[len(row.log_probs) - len(row.answer_ids) :]
            event.token_ids, event.token_logprobs = row.answer_ids[new], answer_lps[new]
            event.top_logprobs = row.top_logprobs[new]
            row.evented = len(row.answer_ids)
        return event

    def _completion(self, row: _Row, finish: Literal["stop", "length"]) -> Completion:
        p = row.params
        trace = None
        if p.thinking is not None:
            config = p.thinking
            trace = ThinkingTrace(
                mode=config.mode,
                tau=row.tau,
                sigma=row.sigma,
                tokens=list(row.thought_tokens),
                inputs=torch.stack(row.thought_inputs) if row.thought_inputs else None,
                marker_ids=list(self._end_marker(config.end_marker).ids),
                ended_by=row.ended_by,
                marker_steps=row.matched,
                text=row.thought.text,
            )
        return Completion(
            prompt_index=row.prompt_index,
            sample_index=row.sample_index,
            prompt_ids=list(row.prompt_ids),
            token_ids=list(row.answer_ids),
            text=row.answer.text,
            finish_reason=finish,
            answer_temperature=p.temperature if p.temperature > 0 else 1.0,
            step_log_probs=torch.tensor(row.log_probs, dtype=torch.float64),
            thinking=trace,
            token_logprobs=row.log_probs[len(row.log_probs) - len(row.answer_ids) :]
            if p.logprobs
            else None,
            top_logprobs=list(row.top_logprobs) if p.logprobs and p.top_logprobs else None,
        )


class _Step:
    """The choices made for the active rows in one decoding step."""

    def __init__(self, size: int) -> None:
        self.tokens = [0] * size  # token to feed (ignored where a soft input is set)
        self.soft_inputs: dict[int, torch.Tensor] = {}
        self.phase_done: set[int] = set()  # rows whose input was decided by the CoT phase
        self.finish: dict[int, Literal["stop", "length"]] = {}


@dataclass
class Joining:
    """One request joining a `RunningBatch`: its validated prompts' token ids and parameters,
    the tag its events carry, `cancelled(prompt_index)` (asked at every step), and what
    constrains its answers (`grammars` compiled beforehand, or a caller's own `constraint`)."""

    prompt_ids: Sequence[Sequence[int]]
    params: SamplingParams | Sequence[SamplingParams]
    owner: Any = None
    cancelled: Callable[[int], bool] | None = None
    grammars: Mapping[Grammar, Any] | None = None
    constraint: RowConstraint | None = None


@dataclass
class _Prefilling:
    """Joining rows whose prompts are prefilled a chunk of columns per step: the prompts'
    rests after a shared cached prefix, left-padded, computed column range by column range
    into one cache, as one pass would compute them at once."""

    rows: list[_Row]
    distinct: list[tuple[int, ...]]
    length: int  # the shared cached prefix's length (0: none)
    prefix: Layers  # its keys/values
    input_ids: torch.Tensor  # [prompts, width]: the rests, left-padded
    own: torch.Tensor  # [prompts, width]: 1 on each prompt's own tokens
    cache: Any
    done: int = 0  # columns computed

    @classmethod
    def start(
        cls,
        sampler: Sampler,
        rows: list[_Row],
        distinct: list[tuple[int, ...]],
        found: list[tuple[int, Layers] | None],
    ) -> _Prefilling:
        """Prompts that all found the same cached prefix continue it; otherwise they are
        computed whole."""
        first = found[0]
        shared = first is not None and all(
            hit is not None and hit[0] == first[0] and _same_prefix(hit[1], first[1])
            for hit in found
        )
        length, prefix = first if shared and first is not None else (0, [])
        if shared and sampler.prefix_cache is not None:
            sampler.prefix_cache.hits += length * len(distinct)
        model = sampler.model
        input_ids, own = left_padded(
            [ids[length:] for ids in distinct], sampler.pad_id, model.device
        )
        cache = seeded_cache(model.config, prefix, len(distinct))
        return cls(rows, distinct, length, prefix, input_ids, own, cache)

    def advance(
        self, model: PreTrainedModel, budget: int
    ) -> tuple[torch.Tensor, list[Layers]] | None:
        """Compute the next `budget` positions (at least one column); after the last column,
        the prompts' next-token logits [prompts, vocab] and whole keys/values."""
        prompts, width = self.input_ids.shape
        end = min(width, self.done + max(1, budget // prompts))
        own = self.own[:, :end]
        out = model(
            input_ids=self.input_ids[:, self.done : end],
            attention_mask=torch.cat([own.new_ones((prompts, self.length)), own], dim=1),
            position_ids=(self.length + (own.cumsum(dim=1) - 1).clamp(min=0))[:, self.done :],
            cache=self.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self.done = end
        if end < width:
            return None
        rests = [len(ids) - self.length for ids in self.distinct]
        return out.logits[:, -1, :], prompt_layers(self.cache, self.prefix, rests)


def _same_prefix(a: Layers, b: Layers) -> bool:
    """Whether two prefix-cache hits are views of the same stored prompt."""
    return a[0][0].data_ptr() == b[0][0].data_ptr()


class RunningBatch:
    """The rows being decoded together: requests join between steps, rows leave the step
    they finish.

    A step is `decide` (every live row chooses its next input from its pending logits; rows
    that finish or are cancelled leave) then `forward` (one model pass feeds every row its
    choice). Rows added (`add`) join at the next `forward`: with plain full attention the
    rows live in a `SlotCache`, and that one pass also computes the joining prompts (packed
    after the running rows' tokens, `reasonloop.sampling.packed`), so a join costs the running
    rows no pass of its own; the joiners then take free slots, where joining and leaving move
    no other row's keys and values, and decide with the others. Other models (sliding
    windows) take one group only, into an empty batch, in transformers' own cache, and rows
    leaving are selected out of it.

    Chunked prefill: with `max_prefill_tokens`, a step (from one `decide` to the next)
    prefills at most that many positions. Joiners that fit what is left of the step's budget
    join at the next `forward`; otherwise they are prefilled a chunk per step, each `forward`
    computing one after the running rows' pass, and their rows join the step the last chunk is
    done. So a long prompt never stalls the running rows for more than one chunk. One such
    prefill runs at a time (`add` refuses another meanwhile).
    """

    def __init__(
        self, sampler: Sampler, *, stream_text: bool = True, max_prefill_tokens: int | None = None
    ) -> None:
        """`max_prefill_tokens`: positions prefilled per step at most (None: any number)."""
        model = sampler.model
        self.sampler = sampler
        self.stream_text = stream_text
        self.max_prefill_tokens = max_prefill_tokens
        self.device = model.device
        self.embeddings = embedding_matrix(model)
        self.slotted = plain_attention(model.config)
        if self.slotted:
            accept_packed_passes(model)
        self.prefilling: _Prefilling | None = None  # joiners prefilled a chunk per step
        self.joiners: list[_Row] = []  # rows the next `forward` computes the prompts of
        self.failed: list[tuple[Any, Exception]] = []  # joiners' owners that failed alone
        self.joiners_found: dict[tuple[int, ...], tuple[int, Layers] | None] = {}  # cached
        self._prefilled = 0  # positions prefilled since the last `decide`
        self._clear()

    def _clear(self) -> None:
        """No rows, no cache (its memory is freed)."""
        layers = self.sampler.model.config.get_text_config(decoder=True).num_hidden_layers
        self.cache: Any = SlotCache(layers) if self.slotted else None
        self.span = self.cache.span if self.slotted else Span()
        self.rows: list[_Row | None] = []  # per slot; None: free
        self.row_start: list[int] = []  # per slot, its first column (on the host: no sync)
        self.logits: torch.Tensor | None = None  # per slot, the next-token logits
        self.tokens: list[int] = []  # per slot, the input `forward` feeds
        self.soft_inputs: dict[int, torch.Tensor] = {}  # per slot, a soft input instead

    @property
    def rows_live(self) -> int:
        return sum(row is not None for row in self.rows)

    @property
    def busy(self) -> bool:
        """Whether steps remain: live rows, or joiners whose prefill is to come or under way."""
        return self.prefilling is not None or bool(self.joiners) or self.rows_live > 0

    @property
    def slots(self) -> int:
        return len(self.rows)

    @property
    def joinable(self) -> bool:
        """Whether `add` is possible now: with a SlotCache when no chunked prefill is under
        way, else only when no row decodes."""
        return self.prefilling is None and (self.slotted or not self.rows_live)

    @torch.inference_mode()
    def add(self, joining: Sequence[Joining]) -> None:
        """Add the joiners' validated prompts: the next `forward` computes each distinct prompt
        once (after what the prefix cache holds of it) and their rows join; if that is more
        positions than are left of this step's `max_prefill_tokens`, start their chunked
        prefill instead (`forward` computes a chunk a step; the rows join when it is done).
        Nothing changes if this raises."""
        if not self.joinable:
            raise RuntimeError(
                "the batch takes no rows now (a running batch of a model "
                "without a SlotCache, or a chunked prefill under way)"
            )
        sampler = self.sampler
        rows: list[_Row] = []
        for join in joining:
            params = join.params
            if isinstance(params, SamplingParams):
                params = [params] * len(join.prompt_ids)
            group_rows = sampler._make_rows(
                [list(ids) for ids in join.prompt_ids], list(params), self.embeddings
            )
            constraint = join.constraint
            if constraint is None:
                constraint = sampler._row_grammars(group_rows, join.grammars or {})
            group = _Group(join.owner, join.cancelled, constraint, remaining=len(group_rows))
            for k, row in enumerate(group_rows):
                row.group, row.group_row = group, k
            rows += group_rows
        if not rows:
            return
        distinct = list(dict.fromkeys(tuple(row.prompt_ids) for row in rows))
        cache = sampler.prefix_cache if self.slotted else None

        def lookup(ids: tuple[int, ...]) -> tuple[int, Layers] | None:
            if ids in self.joiners_found:  # pending already: computed once, with the others
                return self.joiners_found[ids]
            return cache.lookup(ids) if cache is not None else None

        found = [lookup(ids) for ids in distinct]
        computed = sum(
            len(ids) - (hit[0] if hit else 0)
            for ids, hit in zip(distinct, found, strict=True)
            if ids not in self.joiners_found
        )
        budget = self.max_prefill_tokens
        if not self.slotted or budget is None or computed <= budget - self._prefilled:
            self.joiners += rows
            self.joiners_found.update(zip(distinct, found, strict=True))
            self._prefilled += computed
            return
        self.prefilling = _Prefilling.start(sampler, rows, distinct, found)  # chunks: `forward`

    def _place(
        self,
        rows: list[_Row],
        distinct: list[tuple[int, ...]],
        logits: torch.Tensor,
        prompt_layers: list[Layers],
    ) -> None:
        """Join prefilled rows: each takes a free slot (or a new one), its prompt's keys and
        values (a SlotCache's) and its prompt's next-token logits."""
        sampler = self.sampler
        which = {ids: k for k, ids in enumerate(distinct)}
        width = max(len(ids) for ids in distinct)
        free = [slot for slot, row in enumerate(self.rows) if row is None]
        slots = free[: len(rows)]
        slots += range(self.slots, self.slots + len(rows) - len(slots))
        if self.slotted:
            template = [keys[None] for keys, _ in prompt_layers[0]]
            moved = self.cache.reserve(max(slots) + 1, width, template=template)
            self.row_start = [start + moved for start in self.row_start]
        grow = max(slots) + 1 - self.slots
        if grow > 0:
            self.rows += [None] * grow
            self.tokens += [sampler.pad_id] * grow
            self.row_start += [0] * grow
            more = logits.new_zeros((grow, logits.shape[1]))
            self.logits = more if self.logits is None else torch.cat([self.logits, more])
        assert self.logits is not None  # allocated with the slots
        for slot, row in zip(slots, rows, strict=True):
            source = which[tuple(row.prompt_ids)]
            length = len(row.prompt_ids)
            if self.slotted:
                for layer, (keys, values) in zip(
                    self.cache.layers, prompt_layers[source], strict=True
                ):
                    layer.place(slot, keys, values)
            self.rows[slot] = row
            self.row_start[slot] = self.span.end - length
            self.span.start = min(self.span.start, self.span.end - length)
            self.logits[slot] = logits[source]

    def _prefill_chunk(self, prefilling: _Prefilling) -> None:
        """Compute the next chunk of a chunked prefill (`max_prefill_tokens` positions, at
        least one column); after the last, its rows join (and its prompts are cached)."""
        assert self.max_prefill_tokens is not None
        done = prefilling.done
        result = prefilling.advance(self.sampler.model, self.max_prefill_tokens)
        self._prefilled += (prefilling.done - done) * len(prefilling.distinct)
        if result is None:
            return
        self.prefilling = None
        logits, layers = result
        if self.sampler.prefix_cache is not None:
            for ids, kept in zip(prefilling.distinct, layers, strict=True):
                self.sampler.prefix_cache.store(ids, kept)
        self._place(prefilling.rows, prefilling.distinct, logits, layers)

    @torch.inference_mode()
    def decide(self) -> tuple[list[tuple[Any, StreamEvent]], list[Any]]:
        """Every live row chooses its next input; returns the new events (with their rows'
        owners) and the owners whose last row has just finished or been cancelled."""
        self._prefilled = 0  # a new step begins
        done = self._drop_cancelled_prefill()
        active = [slot for slot, row in enumerate(self.rows) if row is not None]
        if not active:
            return [], done
        assert self.logits is not None
        logits = self.logits if len(active) == self.slots else self.logits[active]
        sampler = self.sampler
        step = _Step(len(active))
        rows = cast("list[_Row]", self.rows)  # only the active slots are read: rows there
        live = RowSettings.of([rows[slot].params for slot in active], self.device)
        sampler._advance_thinking(rows, active, logits, self.embeddings, step)
        sampler._advance_answers(rows, active, logits, live, step)
        events: list[tuple[Any, StreamEvent]] = []
        self.soft_inputs = {}
        for i, slot in enumerate(active):
            row = rows[slot]
            group = _group_of(row)
            finished = step.finish.get(i)
            if self.stream_text or finished:
                event = sampler._event(row, finished, final=finished is not None)
                if event is not None:
                    events.append((group.owner, event))
            cancelled = group.cancelled is not None and group.cancelled(row.prompt_index)
            if finished is not None or cancelled:
                self.rows[slot] = None
                self.tokens[slot] = sampler.pad_id
                group.remaining -= 1
                if group.remaining == 0:
                    done.append(group.owner)
            else:
                self.tokens[slot] = step.tokens[i]
                if i in step.soft_inputs:
                    self.soft_inputs[slot] = step.soft_inputs[i]
        if not self.rows_live:
            self._clear()
        return events, done

    def _drop_cancelled_prefill(self) -> list[Any]:
        """End a chunked prefill whose every row is cancelled; returns its rows' owners."""
        prefilling = self.prefilling
        if prefilling is None:
            return []
        rows = prefilling.rows
        groups = [_group_of(r) for r in rows]
        if not all(
            g.cancelled is not None and g.cancelled(r.prompt_index)
            for g, r in zip(groups, rows, strict=True)
        ):
            return []
        self.prefilling = None
        return [group.owner for group in {id(g): g for g in groups}.values()]

    @torch.inference_mode()
    def forward(self) -> None:
        """Feed every live row the input `decide` chose (their next logits become pending)
        and compute the joiners' prompts (their rows join, logits pending), then compute the
        next chunk of a chunked prefill under way."""
        if self.slotted and (self.rows_live or self.joiners):
            self._packed_step()
        elif self.joiners:
            self._join_empty()
        elif self.rows_live:
            self._step()
        if self.prefilling is not None:
            self._prefill_chunk(self.prefilling)

    def _take_joiners(
        self,
    ) -> tuple[list[_Row], dict[tuple[int, ...], tuple[int, Layers] | None]]:
        """The joiners' rows and their distinct prompts' prefix-cache hits (the batch lets go)."""
        rows, found = self.joiners, self.joiners_found
        self.joiners, self.joiners_found = [], {}
        return rows, found

    def _packed_step(self) -> None:
        """One pass for every slot's next input and the joiners' prompts (packed after them).
        If it fails with joiners in it, the running rows' step is run without them, then each
        joining request alone: only the one at fault fails (see `take_failed`)."""
        rows, found = self._take_joiners()
        inputs, positions = self._slot_inputs()
        try:
            self._packed_pass(inputs, positions, rows, list(found.items()))
        except Exception:
            if not rows:
                raise
            if self.slots:
                self._packed_pass(inputs, positions, [], [])
            for group in {id(_group_of(r)): _group_of(r) for r in rows}.values():
                own = [r for r in rows if r.group is group]
                prompts = dict.fromkeys(tuple(r.prompt_ids) for r in own)
                try:
                    self._packed_pass([], [], own, [(ids, found[ids]) for ids in prompts])
                except Exception as error:
                    self.failed.append((group.owner, error))

    def _packed_pass(
        self,
        inputs: list[torch.Tensor],
        positions: list[torch.Tensor],
        rows: list[_Row],
        prompts: list[tuple[tuple[int, ...], tuple[int, Layers] | None]],
    ) -> None:
        """Run the slots' `inputs` at `positions` (none: the slots are left alone) and the
        `prompts` (each after its prefix-cache hit) in one pass; the slots' next logits become
        pending, the prompts' rows take free slots with their keys/values (also kept by the
        prefix cache) and next-token logits."""
        model, prefix_cache = self.sampler.model, self.sampler.prefix_cache
        slots = self.slots if inputs else 0
        inputs, positions = [*inputs], [*positions]
        segments = []
        rests = []
        first = slots  # the next segment's first token in the pass
        for ids, hit in prompts:
            length, prefix = hit if hit is not None else (0, [])
            segments.append(Segment.of(first, len(ids) - length, length, prefix, self.device))
            first += len(ids) - length
            rests.append(torch.tensor(ids[length:], device=self.device))
            positions.append(torch.arange(length, len(ids), device=self.device))
        if rests:
            inputs.append(model.get_input_embeddings()(torch.cat(rests)))
        mask = self._slot_mask()[:, None, None, :] if slots else None
        step = PackedStep(slots, mask, segments)
        with self.cache.packed(step):
            out = model(
                inputs_embeds=torch.cat(inputs)[None],
                attention_mask=NO_MASK,
                position_ids=torch.cat(positions)[None],
                cache=self.cache,
                use_cache=True,
                logits_to_keep=torch.tensor(step.last_tokens(), device=self.device),
                reasonloop_packed=step,
            )
        logits = out.logits[0]
        if slots:
            self.span.end += 1
            self.logits = logits[:slots]
        if segments:
            distinct = [ids for ids, _ in prompts]
            layers = [segment.layers for segment in segments]
            if prefix_cache is not None:
                prefix_cache.hits += sum(hit[0] for _, hit in prompts if hit is not None)
                for ids, kept in zip(distinct, layers, strict=True):
                    prefix_cache.store(ids, kept)
            self._place(rows, distinct, logits[slots:], layers)

    def take_failed(self) -> list[tuple[Any, Exception]]:
        """The owners of joiners whose prompts failed in the last `forward`, with the error
        each got alone (their rows never joined); the list is emptied."""
        failed, self.failed = self.failed, []
        return failed

    def _slot_inputs(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The slots' next inputs ([slots, hidden]) and positions ([slots]), as lists of one
        part each (none without slots); compacts and trims the cache first, as a SlotCache
        allows, and advances the live rows' positions."""
        if not self.slots:
            return [], []
        live = [slot for slot, row in enumerate(self.rows) if row is not None]
        free = self.slots - len(live)
        if free and (free >= len(live) or not self.slotted):
            self._compact(live)
            live = list(range(len(live)))
        if self.slotted:
            self.cache.trim(min(self.row_start[slot] for slot in live))
            moved = self.cache.reserve(self.slots, 0)
            self.row_start = [start + moved for start in self.row_start]
        inputs = self.sampler.model.get_input_embeddings()(
            torch.tensor(self.tokens, device=self.device)
        )
        for slot, x in self.soft_inputs.items():
            inputs[slot] = x
        positions = torch.tensor(
            [row.position if row is not None else 0 for row in self.rows], device=self.device
        )
        for row in self.rows:
            if row is not None:
                row.position += 1
        return [inputs], [positions]

    def _slot_mask(self) -> torch.Tensor:
        """Which columns each slot sees this step: [slots, columns], from its first column
        to the one this step writes."""
        columns = torch.arange(self.span.start, self.span.end + 1, device=self.device)
        row_start = torch.tensor(self.row_start, device=self.device)
        return columns[None, :] >= row_start[:, None]

    def _step(self) -> None:
        """A decoding step in transformers' own cache (models without a SlotCache)."""
        [inputs], [positions] = self._slot_inputs()
        out = self.sampler.model(
            inputs_embeds=inputs[:, None, :],
            attention_mask=self._slot_mask().long(),
            position_ids=positions[:, None],
            cache=self.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self.span.end += 1
        self.logits = out.logits[:, -1, :]

    def _join_empty(self) -> None:
        """Joiners of a batch without a SlotCache, which only an empty batch takes: their
        prompts in one left-padded pass, whose cache becomes the batch's."""
        rows, found = self._take_joiners()
        distinct = list(found)
        sampler = self.sampler
        logits, prefilled, width = prefill(sampler.model, distinct, sampler.pad_id)
        self._clear()
        which = {ids: k for k, ids in enumerate(distinct)}
        expand = torch.tensor([which[tuple(r.prompt_ids)] for r in rows], device=self.device)
        prefilled.batch_select_indices(expand)
        self.cache, self.span = prefilled, Span(0, width)
        self._place(rows, distinct, logits, [])

    def _compact(self, live: list[int]) -> None:
        """Keep only the live slots (a copy of their caches; see `SlotCache`)."""
        index = torch.tensor(live, device=self.device)
        self.cache.batch_select_indices(index)
        remap = {old: new for new, old in enumerate(live)}
        self.rows = [self.rows[slot] for slot in live]
        self.tokens = [self.tokens[slot] for slot in live]
        self.soft_inputs = {remap[s]: x for s, x in self.soft_inputs.items()}
        self.row_start = [self.row_start[slot] for slot in live]


def seeded_cache(config: Any, prefix: Layers, rows: int) -> Any:
    """A new cache (`new_cache`) holding `prefix` (per layer keys/values [heads, length,
    dim]) for each of `rows` rows: what the rows' rests are computed after."""
    cache = new_cache(config)
    for layer, (keys, values) in enumerate(prefix):
        expand = (rows, -1, -1, -1)
        cache.update(keys[None].expand(*expand), values[None].expand(*expand), layer)
    return cache


def prompt_layers(cache: Any, prefix: Layers, rests: Sequence[int]) -> list[Layers]:
    """Each prompt's whole keys/values per layer [heads, length, dim] after a left-padded
    pass over the prompts' rests: `prefix`'s (when there is one), then its own `rests[i]`
    last columns of `cache`."""
    whole = []
    for i, rest in enumerate(rests):
        layers = []
        for layer, c in enumerate(cache.layers):
            start = c.keys.shape[2] - rest
            keys, values = c.keys[i, :, start:], c.values[i, :, start:]
            if prefix:
                keys = torch.cat([prefix[layer][0], keys], dim=1)
                values = torch.cat([prefix[layer][1], values], dim=1)
            layers.append((keys, values))
        whole.append(layers)
    return whole


def left_padded(
    prompts: Sequence[Sequence[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The prompts left-padded to the longest: input ids [prompts, width] and the attention
    mask (1 on each prompt's own tokens)."""
    width = max(len(ids) for ids in prompts)
    input_ids = torch.full((len(prompts), width), pad_id, device=device)
    mask = torch.zeros((len(prompts), width), dtype=torch.long, device=device)
    for i, ids in enumerate(prompts):
        input_ids[i, width - len(ids) :] = torch.tensor(ids, device=device)
        mask[i, width - len(ids) :] = 1
    return input_ids, mask


def prefill(
    model: PreTrainedModel, prompt_ids: Sequence[Sequence[int]], pad_id: int
) -> tuple[torch.Tensor, Any, int]:
    """Run the prompts once, left-padded to the longest: their next-token logits
    [prompts, vocab], their cache and its width (the longest prompt's length)."""
    input_ids, attention = left_padded(prompt_ids, pad_id, model.device)
    width = input_ids.shape[1]
    out = model(
        input_ids=input_ids,
        attention_mask=attention,
        position_ids=(attention.cumsum(dim=1) - 1).clamp(min=0),
        cache=new_cache(model.config),
        use_cache=True,
        logits_to_keep=1,
    )
    return out.logits[:, -1, :], out.cache, width


def prefill_prompts(
    model: PreTrainedModel, prompt_ids: Sequence[Sequence[int]], expand: torch.Tensor, pad_id: int
) -> tuple[torch.Tensor, Any, torch.Tensor]:
    """Run each distinct prompt once (left-padded), then copy its cache to its rows.

    `expand[r]` is row r's prompt. Returns the rows' next-token logits [rows, vocab], the
    cache and the rows' attention mask. Teacher forcing's prefill; like decoding's
    (`RunningBatch.add`), it runs each distinct prompt once, so an RL group of G samples pays
    for its prompt once in both.
    """
    logits, cache, _ = prefill(model, prompt_ids, pad_id)
    if len(expand) != len(prompt_ids):
        cache.batch_select_indices(expand)
    _, attention = left_padded(prompt_ids, pad_id, model.device)
    return logits[expand], cache, attention[expand]
