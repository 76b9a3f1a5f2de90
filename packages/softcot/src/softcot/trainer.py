"""The RLOO training loop for hard, soft and fuzzy chains of thought.

One step: take the next prompts (data order is a function of seed and step), sample a group
of G completions per prompt with the core sampler in the run's thinking mode, score them with
the reward, compute leave-one-out advantages, recompute every completion's per-step
log-probabilities with gradients (teacher forcing, soft inputs fed back exactly as sampled),
and take one optimizer step on the policy-gradient loss.

`accelerate` places the model and connects processes. Under `accelerate launch` (or torchrun)
every process holds the whole policy and takes every `prompts_per_step / processes`-th prompt
of the step, sampled with the same per-prompt seed a single process would use; the loss is
normalized by the step's global completion count and gradients are summed across processes,
so N processes take the same optimizer step as one, up to floating-point summation order.
Only the main process writes the run directory. Checkpoints are atomic and `resume=True`
continues exactly; Ctrl-C finishes the current step (on every process), saves and returns.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from reasonloop.checkpoint import latest_checkpoint, load_state, restore_weights, save_checkpoint
from reasonloop.metrics import JsonlLogger, read_jsonl
from reasonloop.models import LoadedModel, attach_lora, load_model
from reasonloop.rewards import BenchmarkReward, FormatReward, MathAnswerReward, Reward
from reasonloop.rewards.extraction import extract_final_answer
from reasonloop.sampling import (
    Completion,
    Sampler,
    SamplingParams,
    ThinkingConfig,
    completion_log_probs,
)
from softcot.config import RunConfig
from softcot.problems import load_problems
from softcot.prompts import ANSWER_MARKER, ANSWER_STOP, MathProblem, chat_prompt
from softcot.rloo import leave_one_out_advantages, policy_gradient_loss

CONFIG_FILE = "run.json"
LOG_FILE = "log.jsonl"


@dataclass
class StepRecord:
    step: int
    reward: float
    correct: float
    format: float
    loss: float
    grad_norm: float
    thinking_steps: float
    answer_tokens: float
    sample_s: float
    train_s: float
    step_s: float


def problems_for(config: RunConfig, split: str) -> list[MathProblem]:
    """The run's train or test problems; built-in sources get the config's levels and count."""
    data = config.data
    source, count = (
        (data.train, data.train_count) if split == "train" else (data.test, data.test_count)
    )
    if source.startswith("builtin:") and "?" not in source:
        source += f"?levels={','.join(map(str, data.levels))}&count={count}"
    return load_problems(
        source,
        split=split,
        limit=count,
        question_field=data.question_field,
        answer_field=data.answer_field,
        seed=config.train.seed,
    )


def batch_indices(total: int, step: int, size: int, seed: int) -> list[int]:
    """Problem indices of one step: epochs of seeded permutations, a function of the step."""
    indices = []
    for position in range(step * size, (step + 1) * size):
        epoch, offset = divmod(position, total)
        order = list(range(total))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
        indices.append(order[offset])
    return indices


def sampling_seed(seed: int, step: int, problem_id: str) -> int:
    digest = hashlib.sha256(f"{seed}:{step}:{problem_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def make_reward(spec: str) -> Reward:
    """`math`, `format:REGEX` (1 when a completion matches: format-only warm-up), or
    grpc://HOST:PORT[,HOST:PORT] (a Benchmark server's Grade). A spec, not a Python object,
    because `accelerate launch` starts each process from the config alone."""
    if spec == "math":
        return MathAnswerReward()
    if spec.startswith("format:"):
        return FormatReward(spec.removeprefix("format:"))
    if spec.startswith("grpc://"):
        return BenchmarkReward(spec.removeprefix("grpc://").split(","))
    raise ValueError(f"train.reward must be `math`, format:REGEX or grpc://HOST:PORT, not {spec!r}")


class Trainer:
    """Trains one run directory from a config; `train()` returns the step records."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: str | Path,
        *,
        resume: bool = False,
        reward: Reward | None = None,
    ) -> None:
        """`reward` replaces the one `train.reward` names (for custom Python rewards)."""
        from accelerate import Accelerator

        self.config = config
        self.run_dir = Path(run_dir)
        self.accelerator = Accelerator(cpu=not torch.cuda.is_available())
        processes = self.accelerator.num_processes
        if config.train.prompts_per_step % processes:
            raise ValueError(
                f"train.prompts_per_step ({config.train.prompts_per_step}) must be a multiple "
                f"of the number of processes ({processes})"
            )
        self.problems = problems_for(config, "train")  # bad data fails before the run exists
        self.reward = reward if reward is not None else make_reward(config.train.reward)
        self._check_run_dir(resume)
        torch.manual_seed(config.train.seed)
        random.seed(config.train.seed)
        self.loaded = self._load_policy()
        self.optimizer = torch.optim.AdamW(
            [p for p in self.loaded.model.parameters() if p.requires_grad],
            lr=config.train.learning_rate,
            weight_decay=config.train.weight_decay,
        )
        self.sampler = Sampler(self.loaded.model, self.loaded.tokenizer)
        self.step = 0
        checkpoint = latest_checkpoint(self.run_dir) if resume else None
        if checkpoint is not None:
            restore_weights(self.loaded.model, checkpoint, lora=config.model.lora)
            state = load_state(checkpoint)
            self.optimizer.load_state_dict(state["optimizer"])
            self.step = state["step"]
        self._stop_requested = False  # this process was asked to stop (Ctrl-C, `stop()`)
        self._interrupted = False  # every process agreed to stop after this step

    # ---- setup ------------------------------------------------------------------------

    def _check_run_dir(self, resume: bool) -> None:
        """A run directory belongs to one config; only `train.steps` may grow on resume."""
        saved = self.run_dir / CONFIG_FILE
        current = self.config.model_dump()
        if saved.is_file():
            if not resume:
                raise ValueError(
                    f"{self.run_dir} already holds a run: pass --resume, or another --out"
                )
            before = json.loads(saved.read_text())
            before["train"]["steps"] = current["train"]["steps"]
            if before != current:
                raise ValueError(f"{self.run_dir} was started with another config")
        self.accelerator.wait_for_everyone()  # all checked before the main process writes
        if self.accelerator.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps(current, indent=2))

    def _load_policy(self) -> LoadedModel:
        model_config = self.config.model
        dtype = {"auto": None, "float32": torch.float32, "bfloat16": torch.bfloat16}
        loaded = load_model(
            model_config.spec,
            device=str(self.accelerator.device),
            dtype=dtype[model_config.dtype],
            seed=self.config.train.seed,
        )
        if not model_config.lora and loaded.model.dtype != torch.float32:
            warnings.warn(
                f"full fine-tuning with {loaded.model.dtype} weights: small updates round away; "
                'use model.dtype = "float32" with model.mixed_precision = "bf16"',
                stacklevel=2,
            )
        if model_config.lora:
            loaded.model = attach_lora(
                loaded.model,
                rank=model_config.lora_rank,
                alpha=model_config.lora_alpha,
                top_layers=model_config.lora_top_layers,
            )
        return loaded

    # ---- the loop ---------------------------------------------------------------------

    def train(self, on_step: Callable[[StepRecord], None] | None = None) -> list[StepRecord]:
        """Run until `train.steps`; Ctrl-C saves the last finished step and returns."""
        records = []
        steps, every = self.config.train.steps, self.config.train.checkpoint_every
        board = self._tensorboard()
        with self._logger() as logger, self._ctrl_c_saves():
            while self.step < steps and not self._interrupted:
                record = self.train_step()
                records.append(record)
                if logger is not None:
                    logger.log(vars(record))
                if board is not None:
                    for name, value in vars(record).items():
                        board.add_scalar(f"train/{name}", value, record.step)
                if on_step is not None:
                    on_step(record)
                self._interrupted = self._any_process(self._stop_requested)
                if self.step % every == 0 or self.step == steps or self._interrupted:
                    self.save()
        if board is not None:
            board.close()
        return records

    def _tensorboard(self) -> Any:
        if not (self.config.train.tensorboard and self.accelerator.is_main_process):
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ValueError(
                "train.tensorboard needs `pip install reasonloop-softcot[tensorboard]`"
            ) from None
        return SummaryWriter(self.run_dir / "tensorboard")

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    def stop(self) -> None:
        """Stop after the current step, with a checkpoint (what Ctrl-C does)."""
        self._stop_requested = True

    def train_step(self) -> StepRecord:
        started = time.perf_counter()
        problems = self._my_problems()
        completions = self.sample(problems)
        sampled = time.perf_counter()
        texts = [[c.text for c in group] for group in completions]
        rewards = self.score(problems, texts)
        advantages = leave_one_out_advantages(rewards)  # groups never span processes
        flat = [c for g in completions for c in g]
        loss, grad_norm = self.optimize(flat, advantages)
        self.step += 1
        count, reward, correct, formatted, thinking, answer = self._sum_over_processes(
            [
                len(flat),
                float(rewards.sum()),
                float((rewards >= 1).sum()),
                sum(extract_final_answer(c.text) is not None for c in flat),
                sum(len(c.thinking.tokens) for c in flat if c.thinking),
                sum(len(c.token_ids) for c in flat),
            ]
        )
        finished = time.perf_counter()
        return StepRecord(
            step=self.step,
            reward=reward / count,
            correct=correct / count,
            format=formatted / count,
            loss=loss,
            grad_norm=grad_norm,
            thinking_steps=thinking / count,
            answer_tokens=answer / count,
            sample_s=sampled - started,
            train_s=finished - sampled,
            step_s=finished - started,
        )

    def _my_problems(self) -> list[MathProblem]:
        """This process's share of the step's prompts (all of them in a single process)."""
        config = self.config.train
        indices = batch_indices(len(self.problems), self.step, config.prompts_per_step, config.seed)
        share = indices[self.accelerator.process_index :: self.accelerator.num_processes]
        return [self.problems[i] for i in share]

    def sampling_params(self, problem: MathProblem) -> SamplingParams:
        config, thinking = self.config.train, self.config.thinking
        return SamplingParams(
            max_new_tokens=config.max_new_tokens,
            temperature=config.answer_temperature,
            n=config.group_size,
            seed=sampling_seed(config.seed, self.step, problem.id),
            stop=ANSWER_STOP,
            include_stop=True,
            thinking=ThinkingConfig(
                mode=thinking.mode,
                temperature=thinking.temperature,
                noise_scale=thinking.noise_scale,
                max_tokens=thinking.max_tokens,
                end_marker=ANSWER_MARKER,
            ),
        )

    def _autocast(self) -> torch.autocast:
        """bf16 compute when `model.mixed_precision` asks for it (torch's own autocast: the
        accelerate state is process-wide and cannot differ between trainers)."""
        return torch.autocast(
            self.accelerator.device.type,
            dtype=torch.bfloat16,
            enabled=self.config.model.mixed_precision == "bf16",
        )

    def sample(self, problems: Sequence[MathProblem]) -> list[list[Completion]]:
        self.loaded.model.eval()
        with self._autocast():
            return self.sampler.generate(
                [chat_prompt(p) for p in problems], [self.sampling_params(p) for p in problems]
            )

    def score(self, problems: Sequence[MathProblem], texts: list[list[str]]) -> torch.Tensor:
        group = self.config.train.group_size
        references = [
            (p.id if self.config.train.reward != "math" else p.answer)
            for p in problems
            for _ in range(group)
        ]
        results = self.reward(
            [p.question for p in problems for _ in range(group)],
            [t for g in texts for t in g],
            references,
        )
        return torch.tensor([r.score for r in results], dtype=torch.float64).view(-1, group)

    def optimize(
        self, completions: list[Completion], advantages: torch.Tensor
    ) -> tuple[float, float]:
        """One optimizer step on the RLOO loss; returns (loss, gradient norm before clipping).

        `completions` are this process's; the loss, gradient and returned values are those of
        the step's completions on all processes together (the mean over all of them).
        When every group's rewards are equal (all advantages 0) and there is no KL term, the
        gradient is exactly zero: the step is skipped, because Adam would still move the
        policy along its stale momentum, which on sparse rewards only drifts it away.
        """
        config = self.config.train
        model = self.loaded.model
        count, signal = self._sum_over_processes([len(completions), float(advantages.any())])
        if config.kl_coef == 0 and not signal:
            return 0.0, 0.0
        model.train()
        self.optimizer.zero_grad(set_to_none=True)
        flat_advantages = advantages.reshape(-1)
        total = 0.0
        for start in range(0, len(completions), config.micro_batch):
            part = completions[start : start + config.micro_batch]
            with self._autocast():
                log_probs = completion_log_probs(model, part)
                reference = self._reference_log_probs(part) if config.kl_coef > 0 else None
            loss = policy_gradient_loss(
                log_probs,
                flat_advantages[start : start + len(part)],
                reference_log_probs=reference,
                kl_coef=config.kl_coef,
            ) * (len(part) / count)
            loss.backward()
            total += float(loss.detach())
        params = [p for p in model.parameters() if p.requires_grad]
        if self.accelerator.num_processes > 1:
            for p in params:
                if p.grad is not None:
                    p.grad = self.accelerator.reduce(p.grad, reduction="sum")
            (total,) = self._sum_over_processes([total])
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm))
        if math.isfinite(grad_norm):
            self.optimizer.step()
        return total, grad_norm

    @torch.no_grad()
    def _reference_log_probs(self, completions: list[Completion]) -> list[torch.Tensor]:
        """The frozen base policy's log-probs: the adapter switched off (LoRA runs only)."""
        model = self.loaded.model
        context = model.disable_adapter() if hasattr(model, "disable_adapter") else nullcontext()
        with context:
            return completion_log_probs(model, completions)

    # ---- processes --------------------------------------------------------------------

    def _sum_over_processes(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums of every process's `values` (the values in a single process)."""
        if self.accelerator.num_processes == 1:
            return [float(v) for v in values]
        local = torch.tensor(values, dtype=torch.float64, device=self.accelerator.device)
        return self.accelerator.reduce(local, reduction="sum").tolist()

    def _any_process(self, flag: bool) -> bool:
        """True on every process when it is true on one: they must all stop at the same step."""
        return self._sum_over_processes([float(flag)])[0] > 0

    # ---- persistence ------------------------------------------------------------------

    def save(self) -> None:
        if self.accelerator.is_main_process:
            save_checkpoint(self.run_dir, self.step, self.loaded.model, self.optimizer)
        self.accelerator.wait_for_everyone()

    def _logger(self) -> AbstractContextManager[JsonlLogger | None]:
        """The run's JSONL log, without entries past the step being resumed from (None on
        all processes but the main one)."""
        if not self.accelerator.is_main_process:
            return nullcontext()
        path = self.run_dir / LOG_FILE
        if path.is_file():
            kept = [r for r in read_jsonl(path) if r.get("step", 0) <= self.step]
            path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        return JsonlLogger(path)

    @contextmanager
    def _ctrl_c_saves(self) -> Iterator[None]:
        """First Ctrl-C: finish the step, save, stop. A second one interrupts at once."""
        in_main_thread = threading.current_thread() is threading.main_thread()
        if not in_main_thread or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            yield
            return

        def handle(signum: int, frame: Any) -> None:
            self.stop()
            signal.signal(signal.SIGINT, signal.default_int_handler)

        signal.signal(signal.SIGINT, handle)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def load_policy(run_or_model: str | Path, *, device: str | None = None) -> tuple[str, LoadedModel]:
    """(label, model) of a run's latest checkpoint with LoRA merged in, or of a model spec.

    The label is the run's training mode (`hard`, `soft`, `fuzzy`), or `base` for a spec.
    """
    run_dir = Path(run_or_model)
    if not (run_dir / CONFIG_FILE).is_file():
        return "base", load_model(str(run_or_model), device=device)
    saved = json.loads((run_dir / CONFIG_FILE).read_text())
    saved["model"].setdefault("lora_top_layers", None)  # older runs adapted every layer
    config = RunConfig.model_validate(saved)
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise ValueError(f"{run_dir} has no checkpoint yet")
    loaded = load_model(config.model.spec, device=device, seed=config.train.seed)
    if config.model.lora:
        model = attach_lora(
            loaded.model,
            rank=config.model.lora_rank,
            alpha=config.model.lora_alpha,
            top_layers=config.model.lora_top_layers,
        )
        restore_weights(model, checkpoint, lora=True)
        loaded.model = model.merge_and_unload()
    else:
        restore_weights(loaded.model, checkpoint, lora=False)
    loaded.model.eval()
    return config.thinking.mode, loaded
