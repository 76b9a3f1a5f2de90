"""Type-aware decoding of programs: a token mask under which every finished sample type-checks.

An EBNF grammar of program text (what sampling used before) can let only defined variables
into an argument slot but cannot know their types, and in the CPU run nearly every sample was
ill-typed (`objects(x1, ...)` with x1 already a set of objects) or cut off. This decoder
follows the text character by character with the type inference of `program.infer_types`
(the same `instantiate` / `unify` / `resolve` steps in the same order):

- a line's primitive is admitted only if some arguments make the call well-typed;
- in an argument slot, only the variables, constants, primitives (as function values) and
  integer literals that fit the slot *and* leave the rest of the call completable;
- the `O = ` line only with calls whose result is a Grid;
- at most `max_lines` lines, and a line started after two thirds of a row's token budget must
  be the `O = ` line, so few samples are cut off by `max_new_tokens`.

So every sample that ends (by EOS, or by the newline after its `O = ...` line) parses and
type-checks. Runtime errors (an empty object set, a grid too large) remain the interpreter's.

A token is allowed when each of its characters is. The vocabulary's tokens spelled with the
program alphabet sit in a character trie that is walked along the decoder's states, so a step
visits only the tokens that fit, never the whole vocabulary; masks are cached per state, and
the rows of a batch (and the steps of a run) share them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from codeit.dsl import CONSTANTS, GRID, PRIMITIVES, Primitive, TypeMismatch, instantiate, unify
from codeit.dsl.types import COLOR, INT, Coll, Fn, Subst, TVar, Type, free_vars, resolve
from codeit.program import INPUT, MAX_LITERAL, MAX_TYPE_PARTS, OUTPUT, parts_exceed

ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ =(),-\n")
MAX_LINES = 14  # lines a sampled program may have, `O = ...` included
O_LINE_AFTER = 2 / 3  # share of a row's token budget after which a new line must be O's
_MAX_CACHED_MASKS = 50_000
_MAX_CACHED_CONTEXTS = 100_000  # contexts and completability answers (rebuilt on demand)


def _canonical(t: Type) -> Type:
    """`t` with its type variables renamed in order of appearance: variables' types from
    different samples compare equal when they are the same up to renaming (each use of a
    variable is instantiated afresh, so the names carry no meaning), and states are shared."""
    names: dict[TVar, TVar] = {}

    def walk(t: Type) -> Type:
        if isinstance(t, TVar):
            if t not in names:
                names[t] = TVar(f"{t.name.split('#')[0]}#c{len(names)}", t.bound)
            return names[t]
        if isinstance(t, Coll):
            return Coll(walk(t.elem))
        if isinstance(t, Fn):
            return Fn(tuple(walk(p) for p in t.params), walk(t.ret))
        return t

    return walk(t)


@dataclass(frozen=True)
class _Group:
    """The things an argument slot may hold that share one type: their texts, and the type
    (instantiated afresh at each use when generic, as `program.infer_types` does). Typing
    cannot tell them apart, so it is asked once per group, not once per name."""

    texts: tuple[str, ...]
    type: Type
    generic: bool
    function: bool  # a function type: it can fill only function (or unknown) slots

    @classmethod
    def of(cls, texts: Iterable[str], t: Type) -> _Group:
        return cls(tuple(texts), t, bool(free_vars(t)), isinstance(t, Fn))

    def use(self) -> Type:
        return instantiate(self.type) if self.generic else self.type


def _grouped(named: Iterable[tuple[str, Type]]) -> tuple[_Group, ...]:
    by_type: dict[Type, list[str]] = {}
    for text, t in named:
        by_type.setdefault(t, []).append(text)
    return tuple(_Group.of(texts, t) for t, texts in by_type.items())


def _global_names() -> list[tuple[str, Type]]:
    """What any slot may hold whatever the program: constants, integer literals, primitives
    (as function values)."""
    literals = range(-MAX_LITERAL, MAX_LITERAL + 1)
    return [
        *((name, t) for name, (_, t) in CONSTANTS.items()),
        *((str(v), COLOR if 0 <= v <= 9 else INT) for v in literals),
        *((p.name, p.type) for p in PRIMITIVES.values()),
    ]


@dataclass(frozen=True)
class _Call:
    """A call being written: its primitive, the instantiated signature, the substitution
    after the arguments so far, and those arguments (indices into the groups of the env)."""

    primitive: Primitive
    signature: Fn
    subst: Subst
    args: tuple[int, ...] = ()


@dataclass(eq=False)
class _Context:
    """A point where one of several words comes next: a line's target, a call's primitive,
    an argument (with its separator), the output line's end. `words` maps each admitted
    word to the key of the context after it."""

    words: dict[str, Any]
    eos: bool = False  # the program may end here

    @cached_property
    def prefixes(self) -> frozenset[str]:
        return frozenset(w[:k] for w in self.words for k in range(1, len(w)))


class ProgramTypes:
    """The type logic of the decoder: which words each context admits (cached per context)."""

    def __init__(self, max_lines: int = MAX_LINES) -> None:
        if not 1 <= max_lines <= MAX_LINES:
            raise ValueError(f"max_lines must lie in 1..{MAX_LINES}, got {max_lines}")
        self.max_lines = max_lines
        self._contexts: dict[Any, _Context] = {}
        self._groups: dict[tuple[Type, ...], tuple[_Group, ...]] = {}
        self._completable: dict[tuple[Any, ...], bool] = {}
        self._global = _global_names()

    # Context keys: ("line", env, o_only), ("call", env, output), ("arg", env, output, prim,
    # args), ("end",), ("done",). `env` holds the canonical types of I, x1, x2, ...; `args`
    # the indices of the chosen arguments' groups.

    def start(self, o_only: bool = False) -> Any:
        return ("line", (GRID,), o_only)

    def context(self, key: Any) -> _Context:
        found = self._contexts.get(key)
        if found is None:
            if len(self._contexts) + len(self._completable) >= _MAX_CACHED_CONTEXTS:
                self._contexts.clear()  # a long run's many programs: bounded memory
                self._completable.clear()
            found = self._contexts[key] = self._build(key)
        return found

    def _build(self, key: Any) -> _Context:
        kind = key[0]
        if kind == "line":
            _, env, o_only = key
            words: dict[str, Any] = {f"{OUTPUT} = ": ("call", env, True)}
            if not o_only and len(env) < self.max_lines:
                words[f"x{len(env)} = "] = ("call", env, False)
            return _Context(words)
        if kind == "call":
            _, env, output = key
            return _Context(
                {
                    f"{name}(": ("arg", env, output, name, ())
                    for name in PRIMITIVES
                    if self.completable(env, output, name, ())
                }
            )
        if kind == "arg":
            return self._arg_context(*key[1:])
        if kind == "end":
            return _Context({"\n": ("done",)}, eos=True)
        return _Context({}, eos=True)  # done

    def _arg_context(
        self, env: tuple[Type, ...], output: bool, name: str, args: tuple[int, ...]
    ) -> _Context:
        last = len(args) + 1 == PRIMITIVES[name].arity
        separator = ", " if not last else ")" if output else ")\n"
        words: dict[str, Any] = {}
        for index, group in enumerate(self.groups(env)):
            chosen = (*args, index)
            if not self.completable(env, output, name, chosen):
                continue
            if not last:
                after: Any = ("arg", env, output, name, chosen)
            elif output:
                after = ("end",)
            else:
                call = self._call(env, name, chosen)
                assert call is not None
                after = ("line", (*env, _canonical(_result(call))), False)
            words.update((text + separator, after) for text in group.texts)
        return _Context(words)

    # ---- typing -----------------------------------------------------------------------------

    def groups(self, env: tuple[Type, ...]) -> tuple[_Group, ...]:
        """What an argument slot may hold after the lines typed `env`, grouped by type."""
        found = self._groups.get(env)
        if found is None:
            names = [INPUT, *(f"x{k}" for k in range(1, len(env)))]
            named = [*zip(names, env, strict=True), *self._global]
            found = self._groups[env] = _grouped(named)
        return found

    def _call(self, env: tuple[Type, ...], name: str, args: tuple[int, ...]) -> _Call | None:
        """The call of primitive `name` with the groups `args`, typed as `infer_types` types
        it (argument by argument); None if an argument does not fit."""
        prim = PRIMITIVES[name]
        signature = instantiate(prim.type)
        assert isinstance(signature, Fn)
        call: _Call | None = _Call(prim, signature, {})
        groups = self.groups(env)
        for index in args:
            call = _extend(call, groups[index], index) if call is not None else None
        return call

    def completable(
        self, env: tuple[Type, ...], output: bool, name: str, args: tuple[int, ...]
    ) -> bool:
        """Whether the call of `name` begun with `args` fits so far and some remaining
        arguments finish it well-typed (with a Grid result on the O line). Memoized."""
        key = (env, output, name, args)
        found = self._completable.get(key)
        if found is None:
            call = self._call(env, name, args)
            found = call is not None and self._finishable(env, output, call)
            self._completable[key] = found
        return found

    def _finishable(self, env: tuple[Type, ...], output: bool, call: _Call) -> bool:
        result = _result(call)
        if output and not _may_be(result, GRID, call.subst):
            return False
        if len(call.args) == call.primitive.arity:
            if parts_exceed(result, MAX_TYPE_PARTS):
                return False
            return not output or (result == GRID and not free_vars(result))
        for index, group in enumerate(self.groups(env)):
            extended = _extend(call, group, index)
            if extended is not None and self._finishable(env, output, extended):
                return True
        return False


def _extend(call: _Call, group: _Group, index: int) -> _Call | None:
    """`call` with one more argument of `group`'s type; None if it does not fit."""
    param = call.signature.params[len(call.args)]
    shape = resolve(param, call.subst)
    known = not isinstance(shape, TVar) and not isinstance(group.type, TVar)
    if known and group.function != isinstance(shape, Fn):
        return None  # a function never fits a data slot, nor data a function slot
    try:
        subst = unify(group.use(), param, call.subst)
    except TypeMismatch:
        return None
    return _Call(call.primitive, call.signature, subst, (*call.args, index))


def _result(call: _Call) -> Type:
    return resolve(call.signature.ret, call.subst)


def _may_be(t: Type, target: Type, subst: Subst) -> bool:
    """Whether further bindings could still make `t` the `target` (a necessary condition)."""
    try:
        unify(t, target, subst)
    except TypeMismatch:
        return False
    return True


@dataclass(frozen=True)
class _State:
    context: Any  # the context's key
    prefix: str = ""  # what has been written of its next word


class Vocabulary:
    """A tokenizer's tokens as text, and a character trie of those spelled with the program
    alphabet (the only ones a program can contain)."""

    def __init__(self, tokenizer: Any, vocab_size: int, eos_ids: Collection[int]) -> None:
        import xgrammar as xgr

        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
        special = set(tokenizer.all_special_ids) | set(eos_ids)
        self.size = vocab_size
        self.eos_ids = frozenset(eos_ids)
        self.texts: dict[int, str] = {}
        self.trie: dict[str, Any] = {}  # char -> (child dict, token ids ending here)
        for token, raw in enumerate(info.decoded_vocab[:vocab_size]):
            if token in special or not raw:
                continue
            try:
                text = raw.decode("ascii")
            except UnicodeDecodeError:
                continue
            if not set(text) <= ALPHABET:
                continue
            self.texts[token] = text
            node: dict[str, Any] = self.trie
            for k, char in enumerate(text):
                entry = node.setdefault(char, ({}, []))
                if k == len(text) - 1:
                    entry[1].append(token)
                node = entry[0]


class TypedDecoder:
    """Typed decoding for one tokenizer: the type logic, the vocabulary's trie and the masks
    found so far (per decoder state), shared by every batch it constrains."""

    def __init__(
        self,
        tokenizer: Any,
        vocab_size: int,
        eos_ids: Collection[int],
        *,
        max_lines: int = MAX_LINES,
    ) -> None:
        self.types = ProgramTypes(max_lines)
        self.vocabulary = Vocabulary(tokenizer, vocab_size, eos_ids)
        self._masks: dict[_State, torch.Tensor] = {}

    def constraint(self, rows: int, max_new_tokens: int) -> TypedPrograms:
        """The row constraint of a batch of `rows` samples of at most `max_new_tokens`."""
        return TypedPrograms(self, rows, max_new_tokens)

    def step(self, state: _State, char: str) -> _State | None:
        context = self.types.context(state.context)
        written = state.prefix + char
        if written in context.words:
            return _State(context.words[written])
        if written in context.prefixes:
            return _State(state.context, written)
        return None

    def allowed(self, state: _State) -> torch.Tensor:
        """The ids of the tokens that may come next in `state` (EOS where a program ends)."""
        found = self._masks.get(state)
        if found is None:
            tokens: list[int] = []
            if self.types.context(state.context).eos and not state.prefix:
                tokens += self.vocabulary.eos_ids
            pending = [(self.vocabulary.trie, state)]
            while pending:
                node, at = pending.pop()
                for char, (children, ending) in node.items():
                    step = self.step(at, char)
                    if step is None:
                        continue
                    tokens += ending
                    if children:
                        pending.append((children, step))
            if len(self._masks) >= _MAX_CACHED_MASKS:
                self._masks.clear()
            found = self._masks[state] = torch.tensor(sorted(tokens), dtype=torch.long)
        return found


class TypedPrograms:
    """The `reasonloop.sampling` row constraint of one batch: per row, the decoder state of
    the program written so far and the tokens it used (rows are prompt by prompt, `n` each)."""

    def __init__(self, decoder: TypedDecoder, rows: int, max_new_tokens: int) -> None:
        self.decoder = decoder
        self.max_new_tokens = max_new_tokens
        self.states = [_State(decoder.types.start())] * rows
        self.used = [0] * rows

    def mask(self, logits: torch.Tensor, rows: list[int]) -> None:
        keep = torch.zeros(logits.shape, dtype=torch.bool)
        for i, row in enumerate(rows):
            keep[i, self.decoder.allowed(self._current(row))] = True
        logits.masked_fill_(~keep.to(logits.device), float("-inf"))

    def accept(self, row: int, token: int) -> bool:
        state: _State | None = self._current(row)  # what the mask was made for
        self.used[row] += 1
        vocabulary = self.decoder.vocabulary
        if token in vocabulary.eos_ids:
            return True
        for char in vocabulary.texts[token]:
            state = self.decoder.step(state, char) if state is not None else None
        if state is None:
            raise RuntimeError(f"row {row} took token {token} outside the typed grammar")
        self.states[row] = state
        return state.context == ("done",)

    def _current(self, row: int) -> _State:
        """The row's state; a line not yet begun late in its budget must be the O line."""
        state = self.states[row]
        key = state.context
        late = self.used[row] >= O_LINE_AFTER * self.max_new_tokens
        if late and key[0] == "line" and not key[2] and not state.prefix:
            return _State(("line", key[1], True))
        return state
