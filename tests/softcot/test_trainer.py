"""Real RLOO steps on the tiny model: the loss goes down, resume is exact, Ctrl-C saves,
export loads in plain transformers and serves what in-process decoding gives."""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path

import pytest
import torch

from reasonloop.rewards import FormatReward, RewardResult
from softcot.config import RunConfig
from softcot.trainer import Trainer, load_policy

# The random tiny model never solves a problem; rewarding a letter it sometimes writes gives
# groups with different rewards, so RLOO has something to learn from.
LETTER_REWARD = FormatReward("[a-m]")


def adapter_weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {
        name: p.detach().clone()
        for name, p in trainer.loaded.model.named_parameters()
        if p.requires_grad
    }


def test_one_step_lowers_the_loss_on_a_fixed_batch(tmp_path: Path, tiny_config) -> None:
    from reasonloop.sampling.teacher_forcing import completion_log_probs
    from softcot.rloo import policy_gradient_loss

    trainer = Trainer(tiny_config(), tmp_path / "run", reward=LETTER_REWARD)
    problems = trainer._my_problems()
    completions = [c for g in trainer.sample(problems) for c in g]
    advantages = torch.tensor([1.0, -0.5, -0.5] * 2)

    def loss() -> float:
        with torch.no_grad():
            lps = completion_log_probs(trainer.loaded.model, completions)
            return float(policy_gradient_loss(lps, advantages))

    unchanged = adapter_weights(trainer)
    skipped = trainer.optimize(completions, torch.zeros(6))  # no signal: no step
    assert (skipped.loss, skipped.grad_norm, skipped.clip_coef) == (0.0, 0.0, 0.0)
    assert all(torch.equal(w, adapter_weights(trainer)[k]) for k, w in unchanged.items())

    before = loss()
    update = trainer.optimize(completions, advantages)
    assert update.loss == pytest.approx(before, rel=1e-4)
    assert update.grad_norm > 0
    assert loss() < before


def test_the_cot_and_answer_gradients_are_logged_apart(tmp_path: Path, tiny_config) -> None:
    """The two norms are those of each loss term's own gradient (two separate backward
    passes here), over two micro-batches; clip_coef is the share of the update kept."""
    from reasonloop.sampling.teacher_forcing import completion_log_probs
    from softcot.rloo import policy_gradient_loss
    from softcot.trainer import thought_steps

    trainer = Trainer(tiny_config(micro_batch=4), tmp_path / "run", reward=LETTER_REWARD)
    completions = [c for g in trainer.sample(trainer._my_problems()) for c in g]
    assert all(thought_steps(c) > 0 for c in completions)
    advantages = torch.tensor([1.0, -0.5, -0.5, -0.5, 1.0, -0.5])
    model = trainer.loaded.model
    params = [p for p in model.parameters() if p.requires_grad]

    def term_norm(part: str) -> float:
        model.zero_grad(set_to_none=True)
        cot = [
            (lp, thought_steps(c))
            for lp, c in zip(completion_log_probs(model, completions), completions, strict=True)
        ]
        pieces = [lp[:n] if part == "cot" else lp[n:] for lp, n in cot]
        policy_gradient_loss(pieces, advantages).backward()
        return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))

    cot, answer = term_norm("cot"), term_norm("answer")
    update = trainer.optimize(completions, advantages)
    assert update.cot_grad_norm == pytest.approx(cot, rel=1e-3)
    assert update.answer_grad_norm == pytest.approx(answer, rel=1e-3)
    assert update.cot_grad_norm != pytest.approx(update.answer_grad_norm, rel=1e-2)
    max_norm = trainer.config.train.max_grad_norm
    assert update.clip_coef == pytest.approx(min(1.0, max_norm / update.grad_norm), rel=1e-5)

    quiet = Trainer(
        tiny_config(log_grad_components=False), tmp_path / "quiet", reward=LETTER_REWARD
    )
    plain = quiet.optimize([c for g in quiet.sample(quiet._my_problems()) for c in g], advantages)
    assert plain.grad_norm > 0
    assert plain.cot_grad_norm is None and plain.answer_grad_norm is None


def changed_fraction(trainer: Trainer, small_lr_steps: int = 3) -> float:
    """The fraction of trainable weights that `small_lr_steps` optimizer steps changed."""
    problems = trainer._my_problems()
    completions = [c for g in trainer.sample(problems) for c in g]
    before = adapter_weights(trainer)
    for _ in range(small_lr_steps):
        trainer.optimize(completions, torch.tensor([1.0, -0.5, -0.5] * 2))
    after = adapter_weights(trainer)
    changed = sum(int((after[k] != w).sum()) for k, w in before.items())
    return changed / sum(w.numel() for w in before.values())


def test_full_fine_tuning_keeps_small_updates_in_float32_master_weights(
    tmp_path: Path, tiny_config
) -> None:
    def trainer(dtype: str, mixed_precision: str) -> Trainer:
        config = tiny_config(learning_rate=1e-6).model_copy(deep=True)
        model = config.model.model_copy(
            update={"lora": False, "dtype": dtype, "mixed_precision": mixed_precision}
        )
        config = config.model_copy(update={"model": model})
        return Trainer(config, tmp_path / f"{dtype}-{mixed_precision}", reward=LETTER_REWARD)

    with pytest.warns(UserWarning, match="round away"):
        pure_bf16 = trainer("bfloat16", "no")
    master_fp32 = trainer("float32", "bf16")
    assert master_fp32.loaded.model.dtype == torch.float32
    assert changed_fraction(pure_bf16) < 0.2  # most lr-1e-6 updates are lost in bf16
    assert changed_fraction(master_fp32) > 0.9  # kept in float32, computed in bf16

    lora = tiny_config().model_copy(deep=True)
    lora = lora.model_copy(update={"model": lora.model.model_copy(update={"dtype": "bfloat16"})})
    adapters = adapter_weights(Trainer(lora, tmp_path / "lora", reward=LETTER_REWARD))
    assert {w.dtype for w in adapters.values()} == {torch.float32}  # PEFT upcasts adapters


def test_training_logs_checkpoints_and_resumes_exactly(tmp_path: Path, tiny_config) -> None:
    straight = Trainer(tiny_config(), tmp_path / "straight", reward=LETTER_REWARD)
    records = straight.train()
    assert [r.step for r in records] == [1, 2, 3, 4]
    assert any(r.grad_norm > 0 for r in records)  # the letter reward did vary within groups
    assert sorted(p.name for p in (tmp_path / "straight" / "checkpoints").iterdir()) == [
        "step-000002",
        "step-000004",
    ]
    log = [
        json.loads(line) for line in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    trained = [r for r in log if r["grad_norm"] > 0]
    assert trained and all(r["cot_grad_norm"] > 0 and r["answer_grad_norm"] > 0 for r in trained)
    assert all(0 < r["clip_coef"] <= 1 for r in trained)
    assert all(math.isfinite(r["cot_log_prob"]) and r["cot_log_prob"] != 0 for r in log)

    half = Trainer(tiny_config(steps=2), tmp_path / "resumed", reward=LETTER_REWARD)
    half.train()
    with pytest.raises(ValueError, match="--resume"):
        Trainer(tiny_config(), tmp_path / "resumed", reward=LETTER_REWARD)
    resumed = Trainer(tiny_config(), tmp_path / "resumed", resume=True, reward=LETTER_REWARD)
    assert resumed.step == 2
    rest = resumed.train()
    # Same data, samples and rewards exactly; losses and weights up to float rounding (CPU
    # kernels do not always sum in the same order across a test session: measured 4e-5).
    assert [r.reward for r in rest] == [r.reward for r in records[2:]]
    assert [r.loss for r in rest] == pytest.approx([r.loss for r in records[2:]], rel=1e-3)
    a, b = adapter_weights(straight), adapter_weights(resumed)
    # Adam turns a rounding-size gradient difference into a full lr-size step where the
    # gradient is near zero, so compare the share of weights that moved apart, not the max.
    apart = sum(int((~torch.isclose(a[k], b[k], rtol=1e-3, atol=1e-4)).sum()) for k in a)
    assert apart <= 0.01 * sum(w.numel() for w in a.values())  # measured: 0
    with pytest.raises(ValueError, match="another config"):
        Trainer(tiny_config(learning_rate=0.5), tmp_path / "resumed", resume=True)


class FirstOfEachGroupUnjudged:
    """The letter reward, except that the first sample of every group comes back unjudged
    (NaN), as a math comparison that timed out twice does; it keeps what it returned."""

    def __init__(self, group: int) -> None:
        self.group = group
        self.returned: list[float] = []

    def __call__(self, prompts, completions, references) -> list[RewardResult]:
        results = [
            RewardResult(math.nan, {"outcome": "timeout"}) if i % self.group == 0 else r
            for i, r in enumerate(LETTER_REWARD(prompts, completions, references))
        ]
        self.returned += [r.score for r in results]
        return results


def test_unjudged_samples_are_counted_and_teach_nothing(tmp_path: Path, tiny_config) -> None:
    config = tiny_config(steps=1)
    reward = FirstOfEachGroupUnjudged(config.train.group_size)
    [record] = Trainer(config, tmp_path / "run", reward=reward).train()
    judged = [score for score in reward.returned if not math.isnan(score)]
    assert record.reward_timeouts == config.train.prompts_per_step  # one per group
    assert record.reward == pytest.approx(sum(judged) / len(judged))  # over the judged only
    assert math.isfinite(record.loss) and math.isfinite(record.grad_norm)
    [logged] = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").open()]
    assert logged["reward_timeouts"] == config.train.prompts_per_step


def test_ctrl_c_finishes_the_step_saves_and_stops(tmp_path: Path, tiny_config) -> None:
    trainer = Trainer(tiny_config(checkpoint_every=100), tmp_path / "run", reward=LETTER_REWARD)
    records = trainer.train(on_step=lambda record: os.kill(os.getpid(), signal.SIGINT))
    assert trainer.interrupted and len(records) == 1
    assert (tmp_path / "run" / "latest").read_text() == "step-000001"
    again = Trainer(
        tiny_config(checkpoint_every=100), tmp_path / "run", resume=True, reward=LETTER_REWARD
    )
    assert again.step == 1


def test_export_is_a_plain_checkpoint_served_like_in_process(tmp_path: Path, tiny_config) -> None:
    from transformers import AutoModelForCausalLM

    from reasonloop.models.export import merge_and_export
    from reasonloop.models.loading import load_model
    from reasonloop.rpc import InferenceClient, ServerOptions
    from reasonloop.rpc.engine import InferenceEngine
    from reasonloop.rpc.inference_server import serve_inference
    from reasonloop.sampling import SamplingParams
    from reasonloop.sampling.decoder import Sampler

    Trainer(tiny_config(steps=2), tmp_path / "run", reward=LETTER_REWARD).train()
    label, policy = load_policy(tmp_path / "run")
    assert label == "soft"
    merge_and_export(policy.model, tmp_path / "export", policy.tokenizer)
    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "export")
    assert type(plain).__name__ == "LlamaForCausalLM"
    assert not any("lora" in name for name, _ in plain.named_parameters())

    params = SamplingParams(max_new_tokens=8, temperature=0)
    prompt = [{"role": "user", "content": "1 + 2?"}]
    trained = Sampler(policy.model, policy.tokenizer).generate([prompt], params)[0][0].text
    served_model = load_model(str(tmp_path / "export"))
    with serve_inference(InferenceEngine(served_model), ServerOptions(port=0)) as server:
        client = InferenceClient(f"127.0.0.1:{server.port}")
        assert client.generate([prompt], params)[0][0].text == trained
        client.close()
    ids = torch.tensor([policy.tokenizer.encode("1 + 2?")])
    with torch.no_grad():
        exported_logits = plain(input_ids=ids).logits
        base_logits = load_model("tiny-llama").model(input_ids=ids).logits
    assert not torch.allclose(exported_logits, base_logits)  # it carries what training changed


def test_eval_cli_writes_the_matrix_for_a_run(tmp_path: Path, tiny_config) -> None:
    from typer.testing import CliRunner

    from softcot.cli import app

    Trainer(tiny_config(steps=1), tmp_path / "run", reward=LETTER_REWARD).train()
    result = CliRunner().invoke(
        app, ["eval", str(tmp_path / "run"), "--base", "tiny-llama", "--out", str(tmp_path / "ev")]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "ev" / "matrix.json").read_text())
    cells = {(c["policy"], c["mode"]) for c in report["cells"]}
    assert cells == {
        (policy, mode) for policy in ("base", "soft") for mode in tiny_config().eval.modes
    }
    assert (tmp_path / "ev" / "matrix.png").read_bytes().startswith(b"\x89PNG")


class FirstOfEachGroupRight:
    """1 for the first sample of every group, 0 for the others: every group's rewards differ,
    so every RLOO advantage is nonzero and a step that ran must move the adapters."""

    def __init__(self, group: int) -> None:
        self.group = group

    def __call__(self, prompts, completions, references) -> list[RewardResult]:
        return [RewardResult(float(i % self.group == 0), {}) for i in range(len(completions))]


@pytest.mark.slow
def test_a_real_smollm2_rloo_step(tmp_path: Path) -> None:
    config = RunConfig.model_validate(
        {
            "data": {"levels": [0], "train_count": 8},
            "thinking": {"mode": "soft", "max_tokens": 8},
            "train": {"steps": 1, "prompts_per_step": 2, "group_size": 2, "max_new_tokens": 8},
        }
    )
    trainer = Trainer(config, tmp_path / "run", reward=FirstOfEachGroupRight(2))
    before = adapter_weights(trainer)
    (record,) = trainer.train()
    assert math.isfinite(record.loss) and record.thinking_steps > 0 and record.format > 0
    assert record.reward == 0.5  # one of the two samples of each group
    assert math.isfinite(record.grad_norm) and record.grad_norm > 0
    after = adapter_weights(trainer)
    moved = sum(int((before[k] != after[k]).sum()) for k in before)
    assert moved > 0.5 * sum(w.numel() for w in before.values())  # the step updated them
