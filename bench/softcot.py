r"""RLOO training step time: soft and fuzzy vs hard chains of thought, and ours vs TRL's trainer.

1. Soft/fuzzy vs hard. One `softcot.trainer.Trainer` per thinking mode, configs identical but
   for `thinking.mode` (same model, LoRA, seed, prompts, budgets). Steps are interleaved
   (hard, soft, fuzzy, hard, ...) so machine noise hits every mode alike; after `--warmup`
   steps each, `--steps` steps per mode are measured. A step is: sample a group of G
   completions per prompt with the core sampler, score them, one forward+backward over all of
   them, one optimizer step. `sample` is the sampler alone, `train` the rest (scoring,
   teacher-forced forward+backward, optimizer step). A step whose groups all got equal
   rewards has no gradient and skips the backward pass, and which steps do depends on each
   mode's samples, so modes are compared on `trained step s`: mean sampling time plus the
   mean train time of the steps that did train. The goal is soft/hard <= 1.2x.

2. Ours (hard mode) vs `trl.RLOOTrainer` on the same model (loaded by TRL from the same local
   directory; tiny models are written to a temp dir first), the same LoRA (rank, alpha,
   all-linear, no dropout), the same prompts in the same order (TRL's dataset is laid out in our
   trainer's per-step order and not shuffled, so step k of both sees the same k-th batch),
   group size (`num_generations`), completion budget (`max_completion_length` = our thinking
   max_tokens + max_new_tokens), learning rate (constant, AdamW, no weight decay, grad-norm clip
   1.0), KL coefficient 0 (`beta=0`), number of steps and reward (the trainer's own grader,
   `make_grader` of `train.reward`, whose `Benchmark.grade` a TRL reward function calls with
   the dataset's task ids). TRL's step time is timed by a callback from `on_step_begin` to
   `on_step_end`; its `sample` is `RLOOTrainer._generate` (tokenize + `generate` + decode).
   Ours is a fresh hard trainer whose steps run interleaved with TRL's: the same callback runs
   one of our steps after each TRL step, outside TRL's timer, so machine noise hits both alike.
   Every TRL step runs forward and backward; ours skips the backward pass of a step whose
   groups all got equal rewards, so ours is compared on trained steps only (`trained s`: the
   mean of those steps, sampling included). `ms/token` divides each trained step by the tokens
   it generated (completions x decoded tokens per completion), since the two trainers' completions
   differ in length. Mean reward is over the measured steps (the same prompts for both).
   `tok/compl` is decoded tokens per completion (ours: thinking steps + answer tokens, the forced
   marker not counted).

   Not identical, and worth knowing when reading the ratio:
   - TRL samples with `model.generate` on a padded batch; ours uses the core sampler, which
     decodes the thinking phase, then forces the `</think>` marker and decodes the answer.
   - Ours stops the answer at the first `}` (right after `\boxed{N}`), so completions are
     usually shorter than TRL's, which run to EOS or the token limit; TRL scores the whole
     completion (thinking included), ours the answer after the marker.
   - TRL runs an extra no-grad forward per step for the old log-probs (its PPO-style ratio,
     which is 1 with one iteration per batch, so the gradient is the same REINFORCE/RLOO one);
     ours does not need it.
   - Both do one forward+backward over all G x prompts completions per step (our micro_batch
     is set to that, TRL's per-device batch is that with no gradient accumulation; TRL's
     gradient checkpointing is turned off, as ours has none).
   On CPU both run float32; on CUDA ours loads bf16 weights and TRL gets bf16 weights too.

Step times are means over the measured steps (`best s`: the fastest one, for a busy machine).
Every figure is measured in this run, on this machine; the ratios are what to read.

    uv run python bench/softcot.py [--model tiny-llama] [--steps 3] [--warmup 1]
        [--modes hard,soft,fuzzy] [--skip-trl]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

# This file is named like the `softcot` package it measures, and a script's own folder comes
# first on the import path: move that folder to the end (a stable sort; nothing else moves).
sys.path.sort(key=lambda entry: Path(entry or ".").resolve() == Path(__file__).resolve().parent)

import torch
import transformers
from rich.console import Console
from rich.table import Table

from reasonloop.models.loading import load_model
from softcot.config import RunConfig
from softcot.prompts import chat_prompt
from softcot.trainer import StepRecord, Trainer, batch_indices, make_grader, problems_for


def run_config(args: argparse.Namespace, mode: str) -> RunConfig:
    completions = args.prompts * args.group
    return RunConfig.model_validate(
        {
            "model": {
                "spec": args.model,
                "lora_rank": args.lora_rank,
                "lora_alpha": 2 * args.lora_rank,
                "lora_top_layers": None,  # every layer, as TRL's LoRA below
            },
            "data": {"levels": [0, 1], "train_count": 256, "test_count": 4},
            "thinking": {"mode": mode, "max_tokens": args.thinking_tokens},
            "train": {
                "steps": args.warmup + args.steps,
                "prompts_per_step": args.prompts,
                "group_size": args.group,
                "micro_batch": completions,
                "max_new_tokens": args.new_tokens,
                "learning_rate": args.lr,
            },
        }
    )


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def trained_step_s(records: list[StepRecord]) -> float:
    """Mean sampling time plus mean time of the steps that ran a backward pass (nan: none)."""
    return mean([r.sample_s for r in records]) + mean(
        [r.train_s for r in records if r.grad_norm > 0]
    )


def bench_modes(
    args: argparse.Namespace, modes: list[str], tmp: Path
) -> dict[str, list[StepRecord]]:
    """The measured step records of each mode, steps interleaved across modes."""
    trainers = {m: Trainer(run_config(args, m), tmp / f"run-{m}") for m in modes}
    measured: dict[str, list[StepRecord]] = {m: [] for m in modes}
    for step in range(args.warmup + args.steps):
        for mode, trainer in trainers.items():
            record = trainer.train_step()
            if step >= args.warmup:
                measured[mode].append(record)
            print(
                f"  {mode:5s} step {record.step}: {record.step_s:.2f}s "
                f"(sample {record.sample_s:.2f}s, train {record.train_s:.2f}s), "
                f"reward {record.reward:.3f}"
            )
    del trainers
    gc.collect()
    return measured


def trl_model_dir(config: RunConfig, tmp: Path) -> str:
    """A local HF directory (config, weights, tokenizer) TRL can load by path: no hub access."""
    loaded = load_model(config.model.spec, device="cpu", seed=config.train.seed)
    source = Path(loaded.source)
    if source.is_dir():
        names = {p.name for p in source.iterdir()}
        has_weights = any(n.endswith((".safetensors", ".bin")) for n in names)
        if "config.json" in names and "tokenizer_config.json" in names and has_weights:
            return str(source)
    # Random-init (tiny) models exist only in memory: write them out once.
    out = tmp / "trl-model"
    loaded.model.save_pretrained(out)
    loaded.tokenizer.save_pretrained(out)
    return str(out)


def bench_trl(
    args: argparse.Namespace, config: RunConfig, tmp: Path, between: Callable[[], None]
) -> dict[str, float]:
    """TRL's RLOOTrainer on the same model, prompts, budgets and reward as `config`;
    `between()` runs after each TRL step, outside its timer (our interleaved step)."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import PrinterCallback, TrainerCallback
    from trl import RLOOConfig, RLOOTrainer

    train = config.train
    total_steps = args.warmup + args.steps
    problems = problems_for(config, "train")
    # The prompts our trainer takes at steps 0..total-1, in order; TRL reads them unshuffled.
    ordered = [
        problems[i]
        for step in range(total_steps)
        for i in batch_indices(len(problems), step, train.prompts_per_step, train.seed)
    ]
    dataset = Dataset.from_list([{"prompt": chat_prompt(p), "task_id": p.id} for p in ordered])
    grader = make_grader(train.reward, problems)

    def graded(prompts, completions, task_id, **kwargs) -> list[float]:
        texts = [c[0]["content"] for c in completions]
        return [g.reward for g in grader.grade(list(zip(task_id, texts, strict=True)))]

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    trl_args = RLOOConfig(
        output_dir=str(tmp / "trl"),
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        use_cpu=not cuda,
        bf16=bf16,
        model_init_kwargs={"dtype": "bfloat16" if bf16 else "float32"},
        seed=train.seed,
        max_steps=total_steps,
        per_device_train_batch_size=train.prompts_per_step * train.group_size,
        gradient_accumulation_steps=1,
        num_generations=train.group_size,
        max_completion_length=config.thinking.max_tokens + train.max_new_tokens,
        temperature=train.answer_temperature,
        shuffle_dataset=False,
        learning_rate=train.learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        optim="adamw_torch",
        weight_decay=train.weight_decay,
        max_grad_norm=train.max_grad_norm,
        beta=0.0,
        num_iterations=1,
        gradient_checkpointing=False,
    )
    lora = LoraConfig(
        r=config.model.lora_rank,
        lora_alpha=config.model.lora_alpha,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )

    step_times: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            step_times.append(time.perf_counter() - self.started)
            between()

    trainer = RLOOTrainer(
        model=trl_model_dir(config, tmp),
        reward_funcs=graded,
        args=trl_args,
        train_dataset=dataset,
        peft_config=lora,
        callbacks=[StepTimer()],
    )
    trainer.remove_callback(PrinterCallback)  # the per-step log dicts; we print our own line
    sample_times: list[float] = []
    generate = trainer._generate

    def timed_generate(prompts):
        started = time.perf_counter()
        try:
            return generate(prompts)
        finally:
            sample_times.append(time.perf_counter() - started)

    trainer._generate = timed_generate
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "reward" in entry]
    if len(step_times) != total_steps or len(logs) != total_steps:
        raise RuntimeError(
            f"expected {total_steps} TRL steps, timed {len(step_times)} and logged {len(logs)}"
        )
    skip = args.warmup
    for i, (seconds, entry) in enumerate(zip(step_times, logs, strict=True)):
        print(f"  trl   step {i + 1}: {seconds:.2f}s, reward {entry['reward']:.3f}")
    completions = train.prompts_per_step * train.group_size
    result = {
        "step_s": mean(step_times[skip:]),
        "best_s": min(step_times[skip:]),
        "sample_s": mean(sample_times[skip:]),
        "reward": mean([e["reward"] for e in logs[skip:]]),
        "tokens": mean([e["completions/mean_length"] for e in logs[skip:]]),
        "ms_per_token": 1000
        * mean(
            [
                t / (completions * e["completions/mean_length"])
                for t, e in zip(step_times[skip:], logs[skip:], strict=True)
            ]
        ),
    }
    del trainer
    gc.collect()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=3, help="measured steps per trainer")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured steps first")
    parser.add_argument("--modes", default="hard,soft,fuzzy", help="hard is always included")
    parser.add_argument("--skip-trl", action="store_true", help="only the soft/hard comparison")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per step")
    parser.add_argument("--group", type=int, default=4, help="completions per prompt (G)")
    parser.add_argument("--thinking-tokens", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=16, help="answer token budget")
    parser.add_argument("--lora-rank", type=int, default=16, help="alpha is twice the rank")
    parser.add_argument("--lr", type=float, default=2e-4)
    args = parser.parse_args()
    modes = ["hard", *(m for m in args.modes.split(",") if m and m != "hard")]
    console = Console(width=140)
    warnings.filterwarnings("ignore", category=FutureWarning)
    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(0)
    budget = (
        f"{args.model}, {args.prompts} prompts x G={args.group}, "
        f"{args.thinking_tokens} thinking + {args.new_tokens} answer tokens, "
        f"mean of {args.steps} steps after {args.warmup} warm-up, "
        f"{torch.get_num_threads()} threads"
    )

    with tempfile.TemporaryDirectory(prefix="bench-softcot-") as tmp_name:
        tmp = Path(tmp_name)
        console.print(f"modes {', '.join(modes)} ({budget})")
        measured = bench_modes(args, modes, tmp)
        # A step whose groups all got equal rewards skips the backward pass, and which steps
        # do depends on the mode's samples: modes are compared on steps that trained.
        hard_trained = trained_step_s(measured["hard"])
        table = Table(title=f"RLOO step time by thinking mode ({budget})")
        for column in (
            "mode",
            "step s",
            "best s",
            "sample s",
            "train s",
            "steps trained",
            "trained step s",
            "thinking steps",
            "answer tokens",
            "reward",
            "trained step vs hard",
        ):
            table.add_column(column, justify="right")
        for mode, records in measured.items():
            trained = trained_step_s(records)
            table.add_row(
                mode,
                f"{mean([r.step_s for r in records]):.2f}",
                f"{min(r.step_s for r in records):.2f}",
                f"{mean([r.sample_s for r in records]):.2f}",
                f"{mean([r.train_s for r in records]):.2f}",
                f"{sum(r.grad_norm > 0 for r in records)}/{len(records)}",
                f"{trained:.2f}",
                f"{mean([r.thinking_steps for r in records]):.1f}",
                f"{mean([r.answer_tokens for r in records]):.1f}",
                f"{mean([r.reward for r in records]):.3f}",
                f"{trained / hard_trained:.2f}x",
            )
        console.print(table)
        if args.skip_trl:
            return

        console.print("TRL RLOOTrainer vs ours (hard), steps interleaved")
        config = run_config(args, "hard")
        ours = Trainer(config, tmp / "run-hard-vs-trl")
        hard: list[StepRecord] = []

        def our_step() -> None:
            record = ours.train_step()
            print(f"  ours  step {record.step}: {record.step_s:.2f}s, reward {record.reward:.3f}")
            hard.append(record)

        trl = bench_trl(args, config, tmp, between=our_step)
        hard = hard[args.warmup :]
        trained = [r for r in hard if r.grad_norm > 0]
        completions = args.prompts * args.group
        table = Table(title=f"RLOO step: ours (hard CoT) vs trl.RLOOTrainer ({budget})")
        for column in (
            "trainer",
            "steps trained",
            "trained s",
            "best s",
            "sample s",
            "train s",
            "tok/compl",
            "ms/token",
            "mean reward",
            "ours/TRL trained s",
            "ours/TRL ms/token",
        ):
            table.add_column(column, justify="right")
        if trained:
            ours_s = mean([r.step_s for r in trained])
            ours_sample = mean([r.sample_s for r in trained])
            ours_ms = 1000 * mean(
                [r.step_s / (completions * (r.thinking_steps + r.answer_tokens)) for r in trained]
            )
            table.add_row(
                "ours (hard)",
                f"{len(trained)}/{len(hard)}",
                f"{ours_s:.2f}",
                f"{min(r.step_s for r in trained):.2f}",
                f"{ours_sample:.2f}",
                f"{ours_s - ours_sample:.2f}",
                f"{mean([r.thinking_steps + r.answer_tokens for r in trained]):.1f}",
                f"{ours_ms:.2f}",
                f"{mean([r.reward for r in hard]):.3f}",
                f"{ours_s / trl['step_s']:.2f}x",
                f"{ours_ms / trl['ms_per_token']:.2f}x",
            )
        else:
            console.print("[red]none of our measured steps trained: no comparison (more --steps)")
        table.add_row(
            "trl RLOOTrainer",
            f"{args.steps}/{args.steps}",
            f"{trl['step_s']:.2f}",
            f"{trl['best_s']:.2f}",
            f"{trl['sample_s']:.2f}",
            f"{trl['step_s'] - trl['sample_s']:.2f}",
            f"{trl['tokens']:.1f}",
            f"{trl['ms_per_token']:.2f}",
            f"{trl['reward']:.3f}",
            "1.00x",
            "1.00x",
        )
        console.print(table)


if __name__ == "__main__":
    main()
