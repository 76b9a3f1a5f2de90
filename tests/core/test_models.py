"""reasonloop.models: tiny and built-in models, loading errors, LoRA, export, caching."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

from reasonloop.models import BUILTIN_MODELS, ModelSpecError
from reasonloop.models.export import merge_and_export, portable_model_config
from reasonloop.models.loading import load_model
from reasonloop.models.lora import attach_lora


def test_tiny_models_are_deterministic_per_seed():
    a = load_model("tiny-llama", seed=3).model
    b = load_model("tiny-llama", seed=3).model
    c = load_model("tiny-llama", seed=4).model
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.lm_head.weight, c.lm_head.weight)


def test_tiny_tokenizer_round_trips_text_and_has_chat_template(tiny):
    text = "héllo wörld </think> 42 ✓"
    assert tiny.tokenizer.decode(tiny.tokenizer.encode(text)) == text
    rendered = tiny.tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tiny.metadata["vocab_size"] == len(tiny.tokenizer)


def test_unknown_spec_lists_the_builtins():
    with pytest.raises(ModelSpecError) as error:
        load_model("no-such-model")
    for name in BUILTIN_MODELS:
        assert name in str(error.value)


def test_bad_local_paths_get_clear_errors(tmp_path):
    with pytest.raises(ModelSpecError, match=r"no config\.json"):
        load_model(str(tmp_path))
    with pytest.raises(ModelSpecError, match="GGUF file not found"):
        load_model(str(tmp_path / "missing.gguf"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_asking_for_cuda_without_it_is_a_clear_error():
    with pytest.raises(ModelSpecError, match="CUDA is not available"):
        load_model("tiny-llama", device="cuda")


def test_hub_id_offline_fails_with_a_readable_message(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelSpecError, match="offline"):
        load_model("some-org/some-model-that-is-not-cached")


def test_lora_on_the_top_layers_only() -> None:
    def adapted_layers(top_layers: int | None) -> set[int]:
        model = attach_lora(load_model("tiny-llama").model, rank=4, top_layers=top_layers)
        names = [n for n, p in model.named_parameters() if p.requires_grad]
        return {int(n.split(".layers.")[1].split(".")[0]) for n in names}

    assert adapted_layers(1) == {1}  # tiny-llama has layers 0 and 1
    assert adapted_layers(8) == adapted_layers(None) == {0, 1}  # deeper than the model: all
    with pytest.raises(ValueError, match="at least 1"):
        adapted_layers(0)


def test_lora_merge_and_export_is_a_plain_checkpoint(tiny, tmp_path):
    base = load_model("tiny-llama", seed=1).model
    peft_model = attach_lora(base, rank=4, alpha=8)
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    with torch.no_grad():  # make the adapter do something
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.5)
    ids = torch.tensor([tiny.tokenizer.encode("adapters merge")])
    with torch.no_grad():
        expected = peft_model(input_ids=ids).logits
    out = merge_and_export(peft_model, tmp_path / "export", tiny.tokenizer)
    assert not any("adapter" in p.name for p in out.iterdir())
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    assert AutoTokenizer.from_pretrained(out).encode("abc") == tiny.tokenizer.encode("abc")
    with torch.no_grad():
        got = reloaded(input_ids=ids).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    # the live adapter model was left as it was: training can go on
    assert any("lora_" in n for n, _ in peft_model.named_parameters())
    # and the export goes through load_model as a local directory
    assert load_model(str(out)).metadata["architecture"] == "LlamaForCausalLM"


def test_export_carries_the_transformers4_keys_and_umask_modes(tiny, tmp_path):
    old = os.umask(0o022)
    try:
        out = merge_and_export(tiny.model, tmp_path / "export", tiny.tokenizer)
    finally:
        os.umask(old)
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {0o644}
    config = json.loads((out / "config.json").read_text())
    assert config["rope_theta"] == config["rope_parameters"]["rope_theta"]
    assert config["rope_scaling"] is None
    assert config["torch_dtype"] == config["dtype"] == "float32"
    tokenizer_config = json.loads((out / "tokenizer_config.json").read_text())
    assert tokenizer_config["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert tokenizer_config["additional_special_tokens"] == ["<|endoftext|>", "<think>", "</think>"]
    assert "extra_special_tokens" not in tokenizer_config
    # transformers 5 reads the rewritten files back to the same tokenizer and RoPE
    reloaded = AutoTokenizer.from_pretrained(out)
    assert reloaded.all_special_tokens == tiny.tokenizer.all_special_tokens
    assert reloaded.encode("<think>a</think>") == tiny.tokenizer.encode("<think>a</think>")
    assert AutoModelForCausalLM.from_pretrained(out).config.rope_parameters == {
        "rope_type": "default",
        "rope_theta": 10000.0,
    }


def test_scaled_rope_round_trips_through_the_legacy_keys():
    rope = {
        "rope_type": "llama3",
        "rope_theta": 500000.0,
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    }
    config = LlamaConfig(rope_parameters=dict(rope), max_position_embeddings=131072).to_dict()
    portable = portable_model_config(config)
    assert portable["rope_theta"] == 500000.0
    assert portable["rope_scaling"] == {k: v for k, v in rope.items() if k != "rope_theta"}
    # what transformers 4.x reads alone (rope_theta + rope_scaling) gives 5.x the same RoPE
    legacy = {k: v for k, v in portable.items() if k != "rope_parameters"}
    assert LlamaConfig(**legacy).rope_parameters == rope
    assert LlamaConfig(**portable).rope_parameters == rope


@pytest.mark.slow
def test_smollm2_loads_from_cache_with_chat_template(smollm2):
    assert smollm2.metadata["parameters"] > 100_000_000
    assert smollm2.metadata["has_chat_template"]
    assert (Path(smollm2.source) / "model.safetensors").is_file()
    config = (Path(smollm2.source) / "config.json").read_text()
    assert "quantization_config" not in config


@pytest.mark.slow
@pytest.mark.e2e  # a real ~25 s conversion; tests/core/test_cache.py checks the lock in ~1 s
def test_two_processes_converting_at_once_share_one_result(tmp_path):
    script = textwrap.dedent(
        """
        from reasonloop.models.gguf import ensure_converted, smollm2_gguf_path
        print(ensure_converted(smollm2_gguf_path()))
        """
    )
    env = {**os.environ, "REASONLOOP_CACHE": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outputs]
    paths = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert len(paths) == 1
    converted = tmp_path / "converted"
    assert [p.name for p in converted.iterdir() if p.is_dir()] == [Path(paths.pop()).name]
    assert (
        AutoModelForCausalLM.from_pretrained(
            converted.iterdir().__next__().parent
            / next(p.name for p in converted.iterdir() if p.is_dir())
        ).config.model_type
        == "llama"
    )


def test_conversion_cache_is_keyed_by_content_not_path(tmp_path, monkeypatch):
    """Every venv holds its own copy of the GGUF; copies must share one ~0.5 GB conversion."""
    from reasonloop.models.gguf import converted_dir_for

    monkeypatch.setenv("REASONLOOP_CACHE", str(tmp_path / "cache"))
    first, copy, other = (tmp_path / d / "m.gguf" for d in ("a", "b", "c"))
    for path, content in ((first, b"GGUF same"), (copy, b"GGUF same"), (other, b"GGUF else")):
        path.parent.mkdir()
        path.write_bytes(content)
    assert converted_dir_for(first) == converted_dir_for(copy)
    assert converted_dir_for(first) != converted_dir_for(other)
    assert converted_dir_for(first).parent == tmp_path / "cache" / "converted"
