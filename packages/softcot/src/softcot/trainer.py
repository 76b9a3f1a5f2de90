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

Each step's record (the JSONL log, TensorBoard, the CLI's progress) also says how the update
was made: the gradient norm of the chain-of-thought term and of the answer term separately
(`train.log_grad_components`: one more backward pass of the CoT term, whose gradient is kept
aside; the answer term's is the rest), the share of the update kept after clipping, and the
mean log-probability per CoT step (token log-prob when hard, Gaussian log-density when
soft/fuzzy) -- in soft mode the CoT term's gradient can dwarf the answer's, and clipping then
decides the step.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch

from reasonloop.benchmarks import TaskSource
from reasonloop.checkpoint import (
    latest_checkpoint,
    load_state,
    restore_weights,
    resume_checkpoint,
    save_checkpoint,
)
from reasonloop.configfile import check_run_config
from reasonloop.evaluate import grade_samples
from reasonloop.hashing import stable_hash
from reasonloop.interrupt import stop_on_signals
from reasonloop.jsonl import read_json, recover_jsonl
from reasonloop.metrics import JsonlLogger
from reasonloop.models.loading import LoadedModel, load_model
from reasonloop.models.lora import with_lora
from reasonloop.rewards import FormatReward, MathAnswerReward, Reward
from reasonloop.rewards.extraction import extract_final_answer
from reasonloop.rpc import BenchmarkClient
from reasonloop.sampling import SamplingParams, ThinkingConfig
from reasonloop.sampling.decoder import Completion, Sampler
from reasonloop.sampling.teacher_forcing import completion_log_probs
from softcot.benchmark import math_benchmark
from softcot.config import RunConfig
from softcot.problems import load_problems
from softcot.prompts import ANSWER_MARKER, ANSWER_STOP, MathProblem, chat_prompt
from softcot.rloo import (
    fill_unjudged,
    leave_one_out_advantages,
    policy_gradient_loss,
    scale_thought_gradient,
)

if TYPE_CHECKING:
    from accelerate import Accelerator
    from peft import PeftModel

CONFIG_FILE = "run.json"
LOG_FILE = "log.jsonl"


@dataclass
class Update:
    """One optimizer step, over the completions of every process."""

    loss: float
    grad_norm: float  # before clipping
    clip_coef: float  # share of the update kept: min(1, max_grad_norm / grad_norm), 0 if skipped
    cot_grad_norm: float | None = None  # the CoT term's gradient (log_grad_components)
    answer_grad_norm: float | None = None  # the rest: the answer term (and the KL term, if any)


@dataclass
class StepRecord:
    step: int
    reward: float  # mean over the judged samples, as is `correct`
    correct: float
    reward_timeouts: int  # samples the reward could not judge (NaN score, e.g. a timeout)
    format: float
    loss: float
    grad_norm: float
    clip_coef: float
    cot_grad_norm: float | None
    answer_grad_norm: float | None
    cot_log_prob: float  # mean per CoT step: token log-prob (hard), log-density (soft/fuzzy)
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


def make_grader(
    spec: str, problems: Sequence[MathProblem], reward: Reward | None = None
) -> TaskSource:
    """What grades the training samples, from `train.reward`: `math` (math-verify against each
    problem's answer), `format:REGEX` (1 when a completion matches: format-only warm-up), or
    grpc://HOST:PORT[,HOST:PORT] (a Benchmark server's Grade of the problems' ids). A spec, not
    a Python object, because `accelerate launch` starts each process from the config alone;
    `reward`, a Python answer checker, replaces it (graded against each problem's answer)."""
    if reward is None and spec.startswith("grpc://"):
        return BenchmarkClient(spec.removeprefix("grpc://").split(","))
    if reward is None:
        if spec == "math":
            reward = MathAnswerReward()
        elif spec.startswith("format:"):
            reward = FormatReward(spec.removeprefix("format:"))
        else:
            raise ValueError(
                f"train.reward must be `math`, format:REGEX or grpc://HOST:PORT, not {spec!r}"
            )
    return math_benchmark(problems, "train", reward)


def _accelerator(device: str | None) -> Accelerator:
    """The accelerator of one process on `device` (None: CUDA when present, else the CPU);
    ValueError for a device this host lacks. Launched processes each take their own GPU."""
    from accelerate import Accelerator

    if device is None:
        return Accelerator(cpu=not torch.cuda.is_available())
    if device.startswith("cuda"):
        index = torch.device(device).index
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (index or 0) >= count:
            raise ValueError(f"--device {device}: this host has {count} CUDA devices")
        if index is not None:
            torch.cuda.set_device(index)  # a one-process accelerator uses the current GPU
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {device}: MPS is not available here")
    return Accelerator(cpu=device == "cpu")


class Trainer:
    """Trains one run directory from a config; `train()` returns the step records."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: str | Path,
        *,
        resume: bool = False,
        reward: Reward | None = None,
        device: str | None = None,
    ) -> None:
        """`reward` replaces the one `train.reward` names (for custom Python rewards): an
        answer checker given each problem's answer as the reference, scoring in [0, 1].
        `device` (cpu, cuda, cuda:N, mps; None: CUDA when present) is where a one-process run
        trains; not part of the run, so a resumed run may move."""
        self.config = config
        self.run_dir = Path(run_dir)
        self.accelerator = _accelerator(device)
        processes = self.accelerator.num_processes
        if config.train.prompts_per_step % processes:
            raise ValueError(
                f"train.prompts_per_step ({config.train.prompts_per_step}) must be a multiple "
                f"of the number of processes ({processes})"
            )
        self.problems = problems_for(config, "train")  # bad data fails before the run exists
        self.grader = make_grader(config.train.reward, self.problems, reward)
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
        checkpoint = resume_checkpoint(self.run_dir) if resume else None
        self._resumed_from = checkpoint  # kept whatever checkpoint.keep_last says
        if checkpoint is not None:
            restore_weights(self.loaded.model, checkpoint, lora=config.model.lora)
            state = load_state(checkpoint)
            self.optimizer.load_state_dict(state["optimizer"])
            self.step = state["step"]
        self._stop_requested = False  # this process was asked to stop (a signal, `stop()`)
        self._interrupted = False  # every process agreed to stop after this step

    # ---- setup ------------------------------------------------------------------------

    def _check_run_dir(self, resume: bool) -> None:
        """A run directory belongs to one config; only `train.steps` may grow on resume."""
        saved = self.run_dir / CONFIG_FILE
        may_change = ("train.steps", "checkpoint")
        check_run_config(saved, self.config, resume=resume, may_change=may_change)
        self.accelerator.wait_for_everyone()  # all checked before the main process writes
        if self.accelerator.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            saved.write_text(self.config.model_dump_json(indent=2))

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
        loaded.model = with_lora(loaded.model, model_config)
        return loaded

    # ---- the loop ---------------------------------------------------------------------

    def train(self, on_step: Callable[[StepRecord], None] | None = None) -> list[StepRecord]:
        """Run until `train.steps`; SIGINT (Ctrl-C) or SIGTERM saves the last finished step and
        returns (reasonloop.interrupt: a repeat within a moment changes nothing, a later one
        interrupts at once)."""
        records = []
        steps, every = self.config.train.steps, self.config.train.checkpoint_every
        board = self._tensorboard()
        with self._logger() as logger, stop_on_signals(self.stop):
            while self.step < steps and not self._interrupted:
                record = self.train_step()
                records.append(record)
                if logger is not None:
                    logger.log(vars(record))
                if board is not None:
                    for name, value in vars(record).items():
                        if value is not None:
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
        """Stop after the current step, with a checkpoint (what Ctrl-C and SIGTERM do)."""
        self._stop_requested = True

    def train_step(self) -> StepRecord:
        started = time.perf_counter()
        problems = self._my_problems()
        completions = self.sample(problems)
        sampled = time.perf_counter()
        texts = [[c.text for c in group] for group in completions]
        rewards = self.score(problems, texts)
        # groups never span processes; an unjudged sample (NaN) gets advantage 0
        advantages = leave_one_out_advantages(fill_unjudged(rewards))
        flat = [c for g in completions for c in g]
        update = self.optimize(flat, advantages)
        self.step += 1
        count, unjudged, reward, correct, formatted, thinking, answer, cot_lp = (
            self._sum_over_processes(
                [
                    len(flat),
                    float(rewards.isnan().sum()),
                    float(rewards.nansum()),
                    float((rewards >= 1).sum()),
                    sum(extract_final_answer(c.text) is not None for c in flat),
                    sum(thought_steps(c) for c in flat),
                    sum(len(c.token_ids) for c in flat),
                    sum(float(c.step_log_probs[: thought_steps(c)].sum()) for c in flat),
                ]
            )
        )
        finished = time.perf_counter()
        judged = max(count - unjudged, 1)
        return StepRecord(
            step=self.step,
            reward=reward / judged,
            correct=correct / judged,
            reward_timeouts=round(unjudged),
            format=formatted / count,
            loss=update.loss,
            grad_norm=update.grad_norm,
            clip_coef=update.clip_coef,
            cot_grad_norm=update.cot_grad_norm,
            answer_grad_norm=update.answer_grad_norm,
            cot_log_prob=cot_lp / thinking if thinking else 0.0,
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
            seed=stable_hash(config.seed, self.step, problem.id),
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
        """Each completion's grade, a group per row; NaN where the grader could not judge it."""
        grades = grade_samples(self.grader, [p.id for p in problems], texts)
        scores = [[g.reward for g in mine] for mine in grades]  # NaN: not judged
        return torch.tensor(scores, dtype=torch.float64)

    def optimize(self, completions: list[Completion], advantages: torch.Tensor) -> Update:
        """One optimizer step on the RLOO loss.

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
            split = 0.0 if config.log_grad_components else None
            return Update(0.0, 0.0, clip_coef=0.0, cot_grad_norm=split, answer_grad_norm=split)
        model.train()
        self.optimizer.zero_grad(set_to_none=True)
        params = [p for p in model.parameters() if p.requires_grad]
        cot_grads = [torch.zeros_like(p) for p in params] if config.log_grad_components else None
        flat_advantages = advantages.reshape(-1)
        total = 0.0
        for start in range(0, len(completions), config.micro_batch):
            part = completions[start : start + config.micro_batch]
            part_advantages = flat_advantages[start : start + len(part)]
            with self._autocast():
                log_probs = [
                    scale_thought_gradient(lp, thought_steps(c), config.cot_weight)
                    for lp, c in zip(completion_log_probs(model, part), part, strict=True)
                ]
                reference = self._reference_log_probs(part) if config.kl_coef > 0 else None
            share = len(part) / count
            loss = policy_gradient_loss(
                log_probs, part_advantages, reference_log_probs=reference, kl_coef=config.kl_coef
            )
            if cot_grads is not None:
                cot = [lp[: thought_steps(c)] for lp, c in zip(log_probs, part, strict=True)]
                cot_loss = policy_gradient_loss(cot, part_advantages) * share
                if cot_loss.requires_grad:
                    grads = torch.autograd.grad(
                        cot_loss, params, retain_graph=True, allow_unused=True
                    )
                    for kept, grad in zip(cot_grads, grads, strict=True):
                        if grad is not None:
                            kept += grad
            (loss * share).backward()
            total += float(loss.detach()) * share
        if self.accelerator.num_processes > 1:
            for p in params:
                if p.grad is not None:
                    p.grad = self._summed(p.grad)
            if cot_grads is not None:
                cot_grads = [self._summed(g) for g in cot_grads]
            (total,) = self._sum_over_processes([total])
        cot_norm = answer_norm = None
        if cot_grads is not None:
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
            cot_norm = _norm(cot_grads)
            answer_norm = _norm([g - kept for g, kept in zip(grads, cot_grads, strict=True)])
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm))
        clip_coef = 0.0
        if math.isfinite(grad_norm):
            self.optimizer.step()
            clip_coef = min(1.0, config.max_grad_norm / (grad_norm + 1e-6))  # torch's clip
        return Update(total, grad_norm, clip_coef, cot_norm, answer_norm)

    @torch.no_grad()
    def _reference_log_probs(self, completions: list[Completion]) -> list[torch.Tensor]:
        """The frozen base policy's log-probs: the adapter switched off (LoRA runs only)."""
        model = self.loaded.model
        disable_adapter = getattr(model, "disable_adapter", None)  # a PeftModel's
        context = disable_adapter() if disable_adapter is not None else nullcontext()
        with context:
            return completion_log_probs(model, completions)

    # ---- processes --------------------------------------------------------------------

    def _sum_over_processes(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums of every process's `values` (the values in a single process)."""
        if self.accelerator.num_processes == 1:
            return [float(v) for v in values]
        local = torch.tensor(values, dtype=torch.float64, device=self.accelerator.device)
        return self._summed(local).tolist()

    def _summed(self, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor` summed element-wise over the processes (accelerate's `reduce` gives back a
        tensor for a tensor; its signature says any nested structure)."""
        return cast(torch.Tensor, self.accelerator.reduce(tensor, reduction="sum"))

    def _any_process(self, flag: bool) -> bool:
        """True on every process when it is true on one: they must all stop at the same step."""
        return self._sum_over_processes([float(flag)])[0] > 0

    # ---- persistence ------------------------------------------------------------------

    def save(self) -> None:
        if self.accelerator.is_main_process:
            save_checkpoint(
                self.run_dir,
                self.step,
                self.loaded.model,
                self.optimizer,
                settings=self.config.checkpoint,
                protect=[self._resumed_from] if self._resumed_from else [],
            )
        self.accelerator.wait_for_everyone()

    def _logger(self) -> AbstractContextManager[JsonlLogger | None]:
        """The run's JSONL log, without a torn last line or entries past the step being resumed
        from (None on all processes but the main one)."""
        if not self.accelerator.is_main_process:
            return nullcontext()
        path = self.run_dir / LOG_FILE
        recover_jsonl(path, lambda record: record.get("step", 0) <= self.step)
        return JsonlLogger(path)


def thought_steps(completion: Completion) -> int:
    """The number of chain-of-thought steps: the first entries of its `step_log_probs`."""
    return len(completion.thinking.tokens) if completion.thinking is not None else 0


def _norm(tensors: Sequence[torch.Tensor]) -> float:
    """The global L2 norm of several tensors (what gradient clipping measures)."""
    return float(torch.linalg.vector_norm(torch.stack([t.float().norm() for t in tensors])))


def load_policy(run_or_model: str | Path, *, device: str | None = None) -> tuple[str, LoadedModel]:
    """(label, model) of a run's latest checkpoint with LoRA merged in, or of a model spec.

    The label is the run's training mode (`hard`, `soft`, `fuzzy`), or `base` for a spec.
    """
    run_dir = Path(run_or_model)
    if not (run_dir / CONFIG_FILE).is_file():
        return "base", load_model(str(run_or_model), device=device)
    saved = read_json(run_dir / CONFIG_FILE)
    saved["model"].setdefault("lora_top_layers", None)  # older runs adapted every layer
    config = RunConfig.model_validate(saved)
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise ValueError(f"{run_dir} has no checkpoint yet")
    loaded = load_model(config.model.spec, device=device, seed=config.train.seed)
    model = with_lora(loaded.model, config.model)
    restore_weights(model, checkpoint, lora=config.model.lora)
    loaded.model = cast("PeftModel", model).merge_and_unload() if config.model.lora else model
    loaded.model.eval()
    return config.thinking.mode, loaded
