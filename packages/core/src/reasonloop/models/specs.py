"""What a model spec names, checked and resolved without loading anything (torch-free).

A spec is a built-in name, a local HF directory, a `.gguf` file or a hub id. A command
checks its spec first, so a missing wheel or file is one line at once, not an error after
a long set-up; `load_model` resolves it the same way, converting GGUF files on the way.
"""

from __future__ import annotations

from pathlib import Path

from reasonloop.models.builtins import BUILTIN_MODELS, TINY_SIZES
from reasonloop.models.gguf import ensure_converted, smollm2_gguf_path


class ModelSpecError(ValueError):
    """A model spec that names nothing loadable; the message says what would work."""


def check_model_spec(spec: str) -> None:
    """Raise ModelSpecError at once if `spec` names nothing loadable here (a wheel, a file or
    a directory that is missing), so a command fails in one line before a long set-up, not
    when it loads the model. Loads and converts nothing; a hub id is only checked for shape."""
    if spec not in TINY_SIZES:
        resolve_source(spec, convert=False)


def resolve_source(spec: str, *, convert: bool = True) -> str:
    """Map a spec to a local directory or a hub id, converting GGUF files on the way
    (`convert=False`: the GGUF file itself)."""
    if spec == "smollm2-135m":
        try:
            gguf = smollm2_gguf_path()
        except FileNotFoundError as error:
            raise ModelSpecError(str(error)) from None
        return str(ensure_converted(gguf) if convert else gguf)
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelSpecError(f"GGUF file not found: {path}")
        return str(ensure_converted(path) if convert else path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelSpecError(f"{path} is a directory but has no config.json (not an HF model)")
        return str(path)
    if spec.count("/") == 1 and not path.exists() and not spec.startswith((".", "/", "~")):
        return spec  # a hub id such as "HuggingFaceTB/SmolLM2-135M-Instruct"
    builtins = ", ".join(sorted(BUILTIN_MODELS))
    raise ModelSpecError(
        f"unknown model '{spec}': use a built-in name ({builtins}), a local HF directory, "
        "a .gguf file, or a hub id like org/name"
    )
