"""An exported softcot checkpoint serves on vLLM as it does on `reasonloop serve`.

A tiny softcot run is trained and exported with `softcot export`; vLLM loads the export
directory as `vllm serve EXPORT_DIR` would, and its greedy tokens for the same prompt token
ids must equal those `reasonloop serve` returns over gRPC. Skipped where vLLM is not
installed (it is not part of the workspace: it pins its own torch and transformers).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

vllm = pytest.importorskip("vllm", reason="vLLM is not installed")

from reasonloop.models.loading import load_model  # noqa: E402
from reasonloop.rewards import FormatReward  # noqa: E402
from reasonloop.rpc import InferenceClient, ServerOptions  # noqa: E402
from reasonloop.rpc.engine import InferenceEngine  # noqa: E402
from reasonloop.rpc.inference_server import serve_inference  # noqa: E402
from reasonloop.sampling import SamplingParams  # noqa: E402
from softcot.cli import app  # noqa: E402
from softcot.trainer import Trainer  # noqa: E402

MAX_NEW_TOKENS = 16
PROMPTS = ["The soft tokens paper trains", "12 + 30 = ", "Question: 7 * 6?"]


def test_vllm_greedy_equals_reasonloop_serve(tmp_path: Path, tiny_config) -> None:
    Trainer(tiny_config(steps=2), tmp_path / "run", reward=FormatReward("[a-m]")).train()
    export = tmp_path / "export"
    result = CliRunner().invoke(
        app, ["export", "--run-dir", str(tmp_path / "run"), "--out", str(export)]
    )
    assert result.exit_code == 0, result.output

    engine = InferenceEngine(load_model(str(export), device="cpu"))
    prompt_ids = [engine.sampler.encode(p) for p in PROMPTS]  # what vLLM is given
    greedy = SamplingParams(max_new_tokens=MAX_NEW_TOKENS, temperature=0, ignore_eos=True)
    with (
        serve_inference(engine, ServerOptions(port=0)) as server,
        InferenceClient(f"127.0.0.1:{server.port}") as client,
    ):
        served = [c.token_ids for [c] in client.generate(PROMPTS, greedy)]

    llm = vllm.LLM(model=str(export), dtype="float32", enforce_eager=True, seed=0)
    outputs = llm.generate(
        [{"prompt_token_ids": ids} for ids in prompt_ids],
        vllm.SamplingParams(temperature=0, max_tokens=MAX_NEW_TOKENS, ignore_eos=True),
    )
    assert [list(o.outputs[0].token_ids) for o in outputs] == served
    assert all(len(tokens) == MAX_NEW_TOKENS for tokens in served)
