"""Compiling one grammar against a vocabulary with xgrammar.

This is the one step of constrained decoding whose cost the request decides, and it can be
large (a flat 29 KB JSON schema of 1,000 properties takes ~12 s; 600 nested objects, a minute)
and cannot be interrupted. So it lives in a module of its own that a sandbox worker
(`reasonloop.sandbox.WorkerPool`) imports at start: a server compiles there, under a time and
a memory limit, and gets the result back serialized (`compile_serialized`). In-process callers
use `compile_grammar` directly.
"""

from __future__ import annotations

import hashlib

from reasonloop.extras import requires

with requires("grammar"):
    import xgrammar as xgr

_compilers: dict[str, xgr.GrammarCompiler] = {}  # a worker's compiler per vocabulary


def compile_grammar(compiler: xgr.GrammarCompiler, kind: str, text: str) -> xgr.CompiledGrammar:
    """The grammar of `kind` (json_schema, regex or ebnf); ValueError if it is invalid."""
    try:
        if kind == "json_schema":
            # Compact JSON: weak models otherwise loop on whitespace forever.
            return compiler.compile_json_schema(text, any_whitespace=False)
        if kind == "regex":
            return compiler.compile_regex(text)
        return compiler.compile_grammar(text)
    except Exception as error:  # xgrammar raises RuntimeError/ValueError subclasses
        raise ValueError(f"invalid {kind} grammar: {error}") from error


def compile_serialized(job: tuple[str, str, str]) -> str:
    """WorkerPool target: (tokenizer info JSON, kind, text) -> the compiled grammar's JSON."""
    info_json, kind, text = job
    key = hashlib.sha256(info_json.encode()).hexdigest()
    if key not in _compilers:
        info = xgr.TokenizerInfo.deserialize_json(info_json)
        _compilers[key] = xgr.GrammarCompiler(info, cache_enabled=False)
    return compile_grammar(_compilers[key], kind, text).serialize_json()
