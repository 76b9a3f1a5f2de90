"""Grammar-constrained decoding (JSON schema, regex, EBNF) through xgrammar.

Compiling a grammar against a vocabulary is the expensive part, so compiled grammars are
cached per tokenizer; each constrained row then gets its own cheap matcher. xgrammar is
imported on first use, so unconstrained decoding does not pay for its import.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    import xgrammar as xgr

from reasonloop.sampling.params import Grammar


class GrammarCompilerCache:
    """Compiles and caches grammars for one tokenizer/vocabulary."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_token_ids: list[int]) -> None:
        import xgrammar as xgr

        info = xgr.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=vocab_size, stop_token_ids=stop_token_ids
        )
        self._compiler = xgr.GrammarCompiler(info)
        self.vocab_size = vocab_size
        self.compile = lru_cache(maxsize=64)(self._compile)

    def _compile(self, grammar: Grammar) -> xgr.CompiledGrammar:
        try:
            if grammar.kind == "json_schema":
                # Compact JSON: weak models otherwise loop on whitespace forever.
                return self._compiler.compile_json_schema(grammar.text, any_whitespace=False)
            if grammar.kind == "regex":
                return self._compiler.compile_regex(grammar.text)
            return self._compiler.compile_grammar(grammar.text)
        except Exception as error:  # xgrammar raises RuntimeError/ValueError subclasses
            raise ValueError(f"invalid {grammar.kind} grammar: {error}") from error


class RowGrammars:
    """The matchers of the constrained rows of a batch."""

    def __init__(self, compiled: list[xgr.CompiledGrammar | None], vocab_size: int) -> None:
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
