"""The CodeIt loop end to end on a tiny random policy: real sandbox, real training steps."""

from __future__ import annotations

import json

import pytest

from codeit.config import CodeitConfig
from codeit.execution import ProgramRunner
from codeit.loop import CodeitRun
from codeit.targets import split_tasks


def tiny_config(**train: object) -> CodeitConfig:
    return CodeitConfig.model_validate(
        {
            "model": {"spec": "tiny-llama", "lora_rank": 4, "lora_alpha": 8, "lora_top_layers": 1},
            "data": {"heldout_tasks": 2, "eval_tasks": 1, "max_grid_size": 8},
            "search": {"samples_per_task": 2, "max_new_tokens": 24, "batch_tasks": 3},
            "buffer": {"mutation_size": 16},
            "train": {"meta_iterations": 2, "steps_per_iteration": 1, "batch_size": 2, **train},
            "sandbox": {"workers": 1},
        }
    )


@pytest.fixture(scope="module")
def runner():
    with ProgramRunner(1, time_limit_s=1.0) as runner:
        yield runner


@pytest.fixture(scope="module")
def split():
    config = tiny_config()
    return split_tasks(config.data, config.train.seed)


def test_split_holds_out_seeds_of_heldout_targets(split) -> None:
    assert len(split.targets) == 3
    assert len(split.heldout_ids) == 2
    assert not split.heldout_ids & set(split.seeds)
    assert not split.heldout_ids & {t.id for t in split.training}


def test_run_learns_records_and_resumes_exactly(tmp_path, runner, split) -> None:
    config = tiny_config()
    straight = CodeitRun(config, tmp_path / "straight", split=split, runner=runner).run()
    assert [r.iteration for r in straight.history] == [1, 2]
    first = straight.history[0]
    assert first.programs == 3 * 2
    assert first.buffer["mutation"] > 0
    assert first.loss is not None and first.loss > 0
    lines = (tmp_path / "straight" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines] == [1, 2]

    stopped = tiny_config(meta_iterations=1)
    CodeitRun(stopped, tmp_path / "resumed", split=split, runner=runner).run()
    # the config file records the longer run now, as `codeit run --resume --iterations 2` does
    (tmp_path / "resumed" / "config.json").write_text(config.model_dump_json())
    resumed = CodeitRun(config, tmp_path / "resumed", resume=True, split=split, runner=runner)
    assert resumed.state is not None and resumed.state.iteration == 1
    state = resumed.run()
    for a, b in zip(straight.history, state.history, strict=True):
        assert (a.solved, a.programs, a.new_entries, a.buffer) == (
            b.solved,
            b.programs,
            b.new_entries,
            b.buffer,
        )
        assert a.loss == pytest.approx(b.loss, rel=1e-3)  # thread-count rounding on CPU


def test_baseline_never_learns_and_a_used_run_dir_is_refused(tmp_path, runner, split) -> None:
    baseline = CodeitRun(tiny_config(), tmp_path / "b", learn=False, split=split, runner=runner)
    state = baseline.run()
    assert all(r.loss is None for r in state.history)
    assert state.history[0].buffer["mutation"] == 0
    with pytest.raises(ValueError, match="--resume"):
        CodeitRun(tiny_config(), tmp_path / "b", split=split, runner=runner)


def test_each_seed_draws_the_targets_the_readme_figures_were_measured_on() -> None:
    """The README's 3-seed table names the tasks solved; a change of target order would make
    its figures irreproducible without any test noticing."""
    from codeit.config import DEFAULT_CONFIG

    measured = {
        0: ["0d3d703e", "67e8384a", "5582e5ca", "aedd82e4", "74dd1130", "a85d4709", "44f52bb0",
            "ed36ccf7", "a8610ef7", "68b67ca3", "ca8de6ea", "31d5ba1a"],
        1: ["9dfd6313", "dae9d2b5", "0d3d703e", "9565186b", "25d8a9c8", "6150a2bd", "8be77c9e",
            "67385a82", "31d5ba1a", "6ea4a07e", "be03b35f", "e633a9e5"],
    }  # fmt: skip
    for seed, targets in measured.items():
        assert [t.id for t in split_tasks(DEFAULT_CONFIG.data, seed).targets] == targets
