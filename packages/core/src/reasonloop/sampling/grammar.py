"""Grammar-constrained decoding (JSON schema, regex, EBNF) through xgrammar.

Compiling a grammar against a vocabulary is the expensive part, so compiled grammars are
cached per tokenizer; each constrained row then gets its own cheap matcher. xgrammar is
imported on first use, so unconstrained decoding does not pay for its import.

A grammar comes from the request, and so does its compile cost: its size and bracket depth are
limited before anything is compiled, and with a time limit (what a server sets) compilation runs
in a sandbox worker process that is killed when the limit passes -- xgrammar cannot be
interrupted in-process. The caller's thread waits, never the decoding loop's.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from reasonloop.extras import requires

with requires("models"):
    import torch

if TYPE_CHECKING:
    import xgrammar as xgr

    from reasonloop.sandbox import WorkerPool

from reasonloop.field_error import FieldError
from reasonloop.limits import MAX_GRAMMAR_CHARS, MAX_GRAMMAR_DEPTH
from reasonloop.sampling.params import Grammar

GRAMMAR_MEMORY_MB = 2048.0  # what an isolated compilation may allocate
_pools: dict[float, WorkerPool] = {}  # one compiling worker per time limit, for all samplers
_pools_lock = threading.Lock()
_QUOTED = re.compile(r'"(?:[^"\\\n]|\\.)*"')  # a double-quoted string (JSON, EBNF)
_ESCAPED = re.compile(r"\\.")
_BRACKET = re.compile(r"[(\[{]|[)\]}]")


def check_grammar_size(grammar: Grammar) -> None:
    """FieldError naming the field when the grammar is too large or too deeply nested to
    compile in bounded time; linear in the text."""
    field = f"grammar.{grammar.kind}"
    if len(grammar.text) > MAX_GRAMMAR_CHARS:
        raise FieldError(
            field, f"{field} has {len(grammar.text)} characters, the limit is {MAX_GRAMMAR_CHARS}"
        )
    text = _ESCAPED.sub("", grammar.text) if grammar.kind == "regex" else grammar.text
    if grammar.kind != "regex":
        text = _QUOTED.sub("", text)
    depth = deepest = 0
    for bracket in _BRACKET.finditer(text):
        depth += 1 if bracket.group() in "([{" else -1
        deepest = max(deepest, depth)
    if deepest > MAX_GRAMMAR_DEPTH:
        raise FieldError(
            field, f"{field} nests brackets {deepest} deep, the limit is {MAX_GRAMMAR_DEPTH}"
        )


class GrammarCompilerCache:
    """Compiles and caches grammars for one tokenizer/vocabulary.

    `time_limit_s` None compiles in this process, unchecked (training, scripts: the caller's own
    grammars); a number is for grammars a client sent (servers): their size and depth are
    checked first, then they compile in a worker process under that limit, refused with
    ValueError past it.
    """

    def __init__(
        self,
        tokenizer: Any,
        vocab_size: int,
        stop_token_ids: list[int],
        *,
        time_limit_s: float | None = None,
    ) -> None:
        with requires("grammar"):
            import xgrammar as xgr

        self._info = xgr.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=vocab_size, stop_token_ids=stop_token_ids
        )
        self._compiler = xgr.GrammarCompiler(self._info, cache_enabled=False)  # cached here
        self.vocab_size = vocab_size
        self.time_limit_s = time_limit_s
        self._info_json = lru_cache(maxsize=1)(self._info.serialize_json)
        self._compiled = lru_cache(maxsize=64)(self._compile_or_refusal)

    def compile(self, grammar: Grammar) -> xgr.CompiledGrammar:
        """The compiled grammar; FieldError naming the field if it is refused. Refusals are
        cached like results: a grammar too slow to compile costs the worker once, not per call."""
        compiled = self._compiled(grammar)
        if isinstance(compiled, str):
            raise FieldError(f"grammar.{grammar.kind}", compiled)
        return compiled

    def _compile_or_refusal(self, grammar: Grammar) -> xgr.CompiledGrammar | str:
        try:
            return self._compile(grammar)
        except ValueError as error:
            return str(error)

    def _compile(self, grammar: Grammar) -> xgr.CompiledGrammar:
        from reasonloop.sampling.grammar_compile import compile_grammar

        if self.time_limit_s is None:  # trusted caller (codeit's own DSL grammar is ~166 KB)
            return compile_grammar(self._compiler, grammar.kind, grammar.text)
        check_grammar_size(grammar)
        return self._compile_isolated(grammar, self.time_limit_s)

    def _compile_isolated(self, grammar: Grammar, time_limit_s: float) -> xgr.CompiledGrammar:
        with requires("grammar"):
            import xgrammar as xgr

        job = (self._info_json(), grammar.kind, grammar.text)
        (outcome,) = _worker(time_limit_s).map([job])
        if outcome.ok:
            return xgr.CompiledGrammar.deserialize_json(outcome.value, self._info)
        field = f"grammar.{grammar.kind}"
        if outcome.kind == "error":  # "ValueError: invalid ... grammar: ..."
            raise FieldError(field, outcome.error.partition(": ")[2])
        if outcome.kind == "timeout":
            message = f"{field} took longer than {time_limit_s:g} s to compile; simplify it"
            raise FieldError(field, message)
        if outcome.kind == "memory":
            raise FieldError(field, f"{field} needs more than {GRAMMAR_MEMORY_MB:g} MB to compile")
        raise FieldError(field, f"{field} crashed the grammar compiler: {outcome.error}")


def _worker(time_limit_s: float) -> WorkerPool:
    """The process-wide compiling worker for this time limit, started on first use (it imports
    xgrammar, hence torch: seconds)."""
    from reasonloop.sandbox import WorkerPool

    with _pools_lock:
        if time_limit_s not in _pools:
            _pools[time_limit_s] = WorkerPool(
                "reasonloop.sampling.grammar_compile:compile_serialized",
                workers=1,
                time_limit_s=time_limit_s,
                memory_limit_mb=GRAMMAR_MEMORY_MB,
            )
        return _pools[time_limit_s]


class RowConstraint(Protocol):
    """What constrains the answer tokens of a batch's rows: `RowGrammars`, or a caller's own
    (codeit's type-aware program decoder). Rows are numbered prompt by prompt, `n` each."""

    def mask(self, logits: torch.Tensor, rows: list[int]) -> None:
        """Set to -inf, in place, the logits of the tokens each row may not take next;
        `rows[i]` is the row of `logits[i]`."""
        ...

    def accept(self, row: int, token: int) -> bool:
        """Advance `row` by `token`; True when the row is complete (it stops)."""
        ...


class RowGrammars:
    """The matchers of the constrained rows of a batch."""

    def __init__(self, compiled: list[xgr.CompiledGrammar | None], vocab_size: int) -> None:
        with requires("grammar"):
            import xgrammar as xgr

        self._xgr = xgr
        self.matchers = [None if c is None else xgr.GrammarMatcher(c) for c in compiled]
        self.vocab_size = vocab_size
        self._bitmask = xgr.allocate_token_bitmask(len(compiled), vocab_size)

    @property
    def active(self) -> bool:
        return any(m is not None for m in self.matchers)

    def mask(self, logits: torch.Tensor, rows: list[int]) -> None:
        """Set to -inf, in place, the logits of tokens each constrained row may not take.
        `rows[i]` is the original row index of batch position i."""
        positions = []
        for i, row in enumerate(rows):
            matcher = self.matchers[row]
            if matcher is not None and not matcher.is_terminated():
                matcher.fill_next_token_bitmask(self._bitmask, i)
                positions.append(i)
        if positions:
            bitmask = self._bitmask[: logits.shape[0]].to(logits.device)
            self._xgr.apply_token_bitmask_inplace(
                logits, bitmask, vocab_size=self.vocab_size, indices=positions
            )

    def accept(self, row: int, token: int) -> bool:
        """Advance row's matcher; True when the grammar is complete (the row may stop)."""
        matcher = self.matchers[row]
        if matcher is None:
            return False
        matcher.accept_token(token)
        return matcher.is_terminated()
