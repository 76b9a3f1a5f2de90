"""The CPU testbed end to end at toy size: warm start (cached), RL per mode, pooled matrix."""

from __future__ import annotations

import json

import pytest
import torch

from softcot import config as softcot_config  # not its TestbedConfig: pytest would collect it
from softcot.carry import carry_problems, solution_text, worked_solution
from softcot.config import load_testbed_config
from softcot.problems import load_problems
from softcot.testbed import REPORT_FILE, run_testbed
from softcot.warmstart import REPORT_FILE as WARM_REPORT
from softcot.warmstart import warm_start, warm_start_dir

MODES = ["hard-greedy", "hard-sample", "soft-greedy", "soft-sample", "fuzzy-greedy", "fuzzy-sample"]


def toy_config() -> softcot_config.TestbedConfig:
    """One-digit sums, learnt in seconds (measured: hard-greedy pass@1 0.50 with the thought,
    0.08 without): with it the model copies the column's sum into the answer; without it, it
    must add in the answer position, which it was never trained to."""
    family = "builtin:carry?operands=2&digits=1"
    return softcot_config.TestbedConfig.model_validate(
        {
            "warmstart": {
                "init": "tiny-llama",
                "sources": [family],
                "examples": 50,
                "steps": 300,
                "batch_size": 32,
                "learning_rate": 1e-2,
            },
            "model": {"spec": "warmstart", "lora": False, "dtype": "float32"},
            "data": {
                "train": family,
                "test": family,
                "ood": "builtin:carry?operands=3&digits=1",
                "train_count": 40,
                "test_count": 12,
            },
            "thinking": {"max_tokens": 24},
            "train": {
                "steps": 2,
                "prompts_per_step": 2,
                "group_size": 2,
                "micro_batch": 4,
                "max_new_tokens": 12,
                "log_grad_components": False,
            },
            "eval": {
                "samples": 2,
                "ks": [1, 2],
                "modes": MODES,
                "max_new_tokens": 12,
                "thinking_tokens": 24,
            },
            "testbed": {"seeds": [0, 1], "ood_count": 8, "heldout_texts": 4},
        }
    )


def test_worked_solutions_add_up():
    assert worked_solution([478, 356]) == "8+6+0=14,7+5+1=13,4+3+1=8"
    assert worked_solution([99, 9, 5]) == "9+9+5+0=23,9+0+0+2=11"  # shorter numbers pad with 0
    for problem in carry_problems("train", 50, operands=3, digits=(2, 3)):
        columns = problem.metadata["thought"].split(",")
        sums = [column.rsplit("=", 1)[1] for column in columns]
        answer = sums[-1] + "".join(s[-1] for s in reversed(sums[:-1]))
        assert answer == problem.answer == str(sum(map(int, problem.question.split("+"))))
        assert " " not in problem.metadata["thought"]  # the first space starts the marker
        assert solution_text(problem).endswith(f"\\boxed{{{problem.answer}}}.")


def test_carry_splits_are_disjoint_and_sources_checked():
    train = {p.question for p in load_problems("builtin:carry?digits=2", split="train", limit=500)}
    test = {p.question for p in load_problems("builtin:carry?digits=2", split="test", limit=100)}
    assert len(train) == 500 and len(test) == 100 and not train & test
    with pytest.raises(ValueError, match="digits, not levels"):
        load_problems("builtin:carry?levels=0")
    with pytest.raises(ValueError, match=r"operands must be in 2\.\.4"):
        load_problems("builtin:carry?operands=9")
    with pytest.raises(ValueError, match="ran out of distinct 1-digit"):
        load_problems("builtin:carry?digits=1", split="test", limit=500)


def test_shipped_configs_load_and_full_overrides_apply():
    quick, full = load_testbed_config(), load_testbed_config(full=True)
    assert len(full.testbed.seeds) >= 3 > len(quick.testbed.seeds)
    assert full.data.test_count > quick.data.test_count
    assert full.full == {} and quick.full
    run = quick.run_config("/some/dir", "soft", 2)
    assert (run.model.spec, run.thinking.mode, run.train.seed) == ("/some/dir", "soft", 2)
    with pytest.raises(ValueError, match=r"model\.spec must be"):
        softcot_config.TestbedConfig.model_validate({"model": {"spec": "tiny-llama"}})


def test_testbed_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("REASONLOOP_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    config = toy_config()
    steps = []
    spec = warm_start(config.warmstart, lambda step, loss: steps.append(loss))
    assert spec == warm_start_dir(config.warmstart) and len(steps) == config.warmstart.steps
    assert json.loads((spec / WARM_REPORT).read_text())["final_loss"] < steps[0] / 2
    assert warm_start(config.warmstart, lambda step, loss: steps.append(loss)) == spec
    assert len(steps) == config.warmstart.steps  # cached: the second call trained nothing

    report = run_testbed(config, tmp_path / "out")
    thought = report.thought_matters
    assert thought["with"].mean > thought["without"].mean + 0.2  # the thought matters
    assert report.train_modes == ["base", "hard", "soft", "fuzzy"]
    assert report.inference_modes == MODES
    for train in report.train_modes:
        for mode in MODES:
            cell = report.matrix[train][mode]
            assert cell["pass@1"].n == config.data.test_count
            assert ("pass@k" in cell) == mode.endswith("sample")
            assert cell["pass@1"].low <= cell["pass@1"].mean <= cell["pass@1"].high
        assert report.heldout_log_likelihood[train] < 0
    assert set(report.versus_hard) == {"soft", "fuzzy"}
    assert set(report.ood_versus_base) == {"hard", "soft", "fuzzy"}
    saved = json.loads((tmp_path / "out" / REPORT_FILE).read_text())
    assert saved["matrix"]["soft"]["soft-sample"]["pass@k"]["n"] == config.data.test_count
    raw = json.loads((tmp_path / "out" / "matrix" / "matrix.json").read_text())
    assert len(raw["cells"]) == (1 + 3 * 2) * len(MODES)  # base + 3 modes x 2 seeds
    for mode in ("hard", "soft", "fuzzy"):
        for seed in (0, 1):
            log = tmp_path / "out" / "runs" / f"{mode}-seed{seed}" / "log.jsonl"
            assert len(log.read_text().splitlines()) == config.train.steps
