"""An export loads under transformers 4.x (the line vLLM pins) as it does under our 5.x.

A fresh virtual environment with `transformers<5` (pip, PyPI, and the CPU torch wheel on this
machine's disk) loads a tiny LoRA-trained export whose RoPE base is not 4.x's default; its
config, tokenizer, logits and greedy completions must equal what `reasonloop serve` (5.x)
gives for the same directory. The environment is built once and kept in the reasonloop cache;
the test skips, saying why, only when pip cannot build it (no index, no torch wheel).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from reasonloop.cache import cache_root
from reasonloop.models.export import merge_and_export
from reasonloop.models.loading import load_model
from reasonloop.models.lora import attach_lora
from reasonloop.rpc import InferenceClient, ServerOptions
from reasonloop.rpc.engine import InferenceEngine
from reasonloop.rpc.inference_server import serve_inference
from reasonloop.sampling import SamplingParams

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

TORCH_WHEEL = "torch==2.13.0"  # the CPU wheel on the machine's disk (pip finds it; uv does not)
TRANSFORMERS_4 = "transformers>=4.57,<5"
ROPE_THETA = 100_000.0  # SmolLM2's; 4.x falls back to 10,000 when it misses it
MAX_NEW_TOKENS = 24
PROMPTS: list[str | list[dict[str, str]]] = [
    "The soft tokens paper trains",
    "12 + 30 = ",
    [{"role": "user", "content": "Think, then answer: what is 2 + 2?"}],
]

# Runs in the transformers 4 environment: reads the export as any 4.x server would.
LOAD_WITH_TRANSFORMERS_4 = """
import json, sys
import torch, transformers
from transformers import AutoModelForCausalLM, AutoTokenizer
request = json.load(sys.stdin)
tokenizer = AutoTokenizer.from_pretrained(request["export"])
model = AutoModelForCausalLM.from_pretrained(request["export"]).eval()
results = []
for prompt in request["prompts"]:
    if isinstance(prompt, str):
        ids = tokenizer.encode(prompt)
    else:
        text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
        ids = tokenizer.encode(text, add_special_tokens=False)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
        out = model.generate(
            torch.tensor([ids]), max_new_tokens=request["max_new_tokens"], do_sample=False
        )
    new = out[0, len(ids):].tolist()
    results.append({
        "ids": ids,
        "logits": logits.tolist(),
        "greedy_ids": new,
        "greedy_text": tokenizer.decode(new, skip_special_tokens=True),
    })
print(json.dumps({
    "transformers": transformers.__version__,
    "tokenizer_class": type(tokenizer).__name__,
    "rope_theta": model.config.rope_theta,
    "special_tokens": tokenizer.all_special_tokens,
    "results": results,
}))
"""


@pytest.fixture(scope="module")
def transformers4_python() -> Path:
    """The python of a venv with transformers 4.x, built with pip on first use."""
    venv = cache_root() / "test-venvs" / "transformers4"
    python = venv / "bin" / "python"
    if python.is_file():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=venv.parent, prefix=".transformers4-", suffix=".tmp"))
    try:
        subprocess.run([sys.executable, "-m", "venv", str(staging)], check=True, timeout=120)
        try:
            pip = subprocess.run(
                [staging / "bin" / "python", "-m", "pip", "install", "--quiet",
                 "--disable-pip-version-check", TORCH_WHEEL, TRANSFORMERS_4],
                capture_output=True, text=True, timeout=500,
            )  # fmt: skip
        except subprocess.TimeoutExpired:  # no local torch wheel: a CUDA build downloading
            pytest.skip("no transformers 4 environment could be built: pip ran past 500 s")
        if pip.returncode != 0:
            last = (pip.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"no transformers 4 environment could be built offline: {last}")
        staging.rename(venv)  # bin/python links to the base interpreter: it survives a move
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return python


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny-llama with a trained-looking LoRA merged in, and SmolLM2's RoPE base."""
    loaded = load_model("tiny-llama", device="cpu", seed=3)
    loaded.model.config.rope_parameters = {"rope_type": "default", "rope_theta": ROPE_THETA}
    model = attach_lora(loaded.model, rank=4, alpha=8)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.3, generator=torch.Generator().manual_seed(0))
    return merge_and_export(model, tmp_path_factory.mktemp("export") / "tiny", loaded.tokenizer)


def test_transformers4_reads_the_export_as_reasonloop_serve_does(
    transformers4_python: Path, export: Path
) -> None:
    request = {"export": str(export), "prompts": PROMPTS, "max_new_tokens": MAX_NEW_TOKENS}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    run = subprocess.run(
        [transformers4_python, "-c", LOAD_WITH_TRANSFORMERS_4],
        input=json.dumps(request), capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    v4 = json.loads(run.stdout)
    assert v4["transformers"].startswith("4.")
    assert v4["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert v4["rope_theta"] == ROPE_THETA

    served = load_model(str(export), device="cpu")
    assert served.model.config.rope_parameters["rope_theta"] == ROPE_THETA
    assert v4["special_tokens"] == served.tokenizer.all_special_tokens
    engine = InferenceEngine(served)
    greedy = SamplingParams(max_new_tokens=MAX_NEW_TOKENS, temperature=0)
    eos = served.tokenizer.eos_token_id
    with (
        serve_inference(engine, ServerOptions(port=0)) as server,
        InferenceClient(f"127.0.0.1:{server.port}") as client,
    ):
        completions = client.generate(PROMPTS, greedy)
    engine.close()
    for prompt, got, (completion,) in zip(PROMPTS, v4["results"], completions, strict=True):
        assert got["ids"] == engine.sampler.encode(prompt)
        with torch.no_grad():
            logits = served.model(torch.tensor([got["ids"]])).logits[0]
        torch.testing.assert_close(torch.tensor(got["logits"]), logits, atol=1e-4, rtol=1e-4)
        v4_ids = [t for t in got["greedy_ids"] if t != eos]
        assert v4_ids == [t for t in completion.token_ids if t != eos], prompt
        assert got["greedy_text"] == completion.text, prompt
