"""The CodeIt meta-iteration loop: learn from the replay buffer, sample, execute, relabel.

Each meta-iteration first trains the policy on the buffer (the mutation start plus what the
policy found): prioritized batches drawn with replacement, or, as the official code does
(`buffer.replay = "epoch"`), one pass over a prioritized sample drawn without replacement.
It then samples programs for every target task,
runs them in the sandbox, scores them on the demonstrations and, in hindsight, turns each
program's actual outputs into a new task for the buffer. Learning comes first so that the
first sampling round already benefits from the mutation-initialized buffer (the paper's loop
samples first; with a pretrained policy that knows the DSL the order matters little).

A run with `learn=False` is the baseline: the same targets, the same sampling budget and
seeds, a policy that never changes. Everything a run has is in its checkpoint: the weights,
the optimizer, the buffer, the solutions so far and the history, written atomically after
each meta-iteration, so `--resume` continues where it stopped.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from codeit.config import CodeitConfig
from codeit.data import ArcTask, Example
from codeit.execution import ProgramRunner
from codeit.mutation import MutationSource
from codeit.policy import Lesson, Policy, task_prompt
from codeit.relabel import experience
from codeit.replay import ReplayBuffer, ReplayEntry
from codeit.scoring import CumulativeScore
from codeit.targets import TaskSplit, split_tasks
from reasonloop.checkpoint import load_state, restore_weights, resume_checkpoint, save_checkpoint
from reasonloop.configfile import check_run_config
from reasonloop.jsonl import read_json, recover_jsonl
from reasonloop.metrics import JsonlLogger
from reasonloop.models.loading import load_model

CONFIG_FILE = "config.json"
LOG_FILE = "log.jsonl"
BUFFER_FILE = "buffer.jsonl"
SCORE_FILE = "solutions.json"
HISTORY_FILE = "history.json"


@dataclass
class IterationRecord:
    """What one meta-iteration did; one JSONL log line."""

    iteration: int
    solved: int
    targets: int
    solved_ids: list[str]
    loss: float | None
    programs: int
    valid_programs: int  # ran without error on every demonstration input
    new_entries: int
    buffer: dict[str, int]
    learn_s: float
    sample_s: float
    execute_s: float


@dataclass
class RunState:
    """The parts of a run that change each iteration (weights and optimizer aside)."""

    buffer: ReplayBuffer
    score: CumulativeScore
    history: list[IterationRecord] = field(default_factory=list)

    @property
    def iteration(self) -> int:
        return len(self.history)


Progress = Callable[[str, int, int], None]  # (phase, done, total)


class CodeitRun:
    """One run directory: a learning run, or (`learn=False`) its never-learning baseline."""

    def __init__(
        self,
        config: CodeitConfig,
        run_dir: Path,
        *,
        learn: bool = True,
        resume: bool = False,
        split: TaskSplit | None = None,
        runner: ProgramRunner | None = None,
        device: str | None = None,
    ) -> None:
        """`device` (cpu, cuda, cuda:N, mps; None: CUDA when present) is where the policy
        runs; not part of the run, a resumed run may move."""
        self.config = config
        self.run_dir = Path(run_dir)
        self.learn = learn
        self._check_run_dir(resume)
        self.split = split or split_tasks(config.data, config.train.seed)
        self.runner = runner or ProgramRunner.from_config(config.sandbox)
        loaded = load_model(config.model.spec, device=device, seed=config.train.seed)
        torch.manual_seed(config.train.seed)  # the adapter's init: same seed, same adapter
        self.policy = Policy(
            loaded,
            model_config=config.model,
            learning_rate=config.train.learning_rate,
            max_grad_norm=config.train.max_grad_norm,
        )
        self._resumed_from: Path | None = None  # kept whatever checkpoint.keep_last says
        self.state: RunState | None = self._restore() if resume else None

    @property
    def targets(self) -> tuple[ArcTask, ...]:
        return self.split.targets

    def _check_run_dir(self, resume: bool) -> None:
        config_path = self.run_dir / CONFIG_FILE
        check_run_config(config_path, self.config, resume=resume)  # checkpoint may change
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config_path.write_text(self.config.model_dump_json(indent=2))

    # ---- state ------------------------------------------------------------------------

    def _restore(self) -> RunState | None:
        """The state of the latest checkpoint (None: none yet), what a crash left removed and
        the log cut to the iterations that checkpoint holds (a torn last line dropped)."""
        checkpoint = resume_checkpoint(self.run_dir)
        self._resumed_from = checkpoint
        state = None if checkpoint is None else self._load(checkpoint)
        done = 0 if state is None else state.iteration
        recover_jsonl(self.run_dir / LOG_FILE, lambda record: record.get("iteration", 0) <= done)
        return state

    def _load(self, checkpoint: Path) -> RunState:
        saved = load_state(checkpoint)  # also restores the RNGs
        restore_weights(self.policy.model, checkpoint, lora=self.config.model.lora)
        self.policy.optimizer.load_state_dict(saved["optimizer"])
        history = read_json(checkpoint / HISTORY_FILE)
        return RunState(
            buffer=ReplayBuffer.from_jsonl(checkpoint / BUFFER_FILE),
            score=CumulativeScore.from_dict(read_json(checkpoint / SCORE_FILE)),
            history=[IterationRecord(**h) for h in history],
        )

    def _save(self, state: RunState) -> None:
        save_checkpoint(
            self.run_dir,
            state.iteration,
            self.policy.model,
            self.policy.optimizer,
            extra_files={
                BUFFER_FILE: state.buffer.dumps(),
                SCORE_FILE: json.dumps(state.score.to_dict()),
                HISTORY_FILE: json.dumps([asdict(h) for h in state.history]),
            },
            settings=self.config.checkpoint,
            protect=[self._resumed_from] if self._resumed_from else [],
        )

    def _initial_state(self, progress: Progress | None) -> RunState:
        buffer = ReplayBuffer()
        if self.learn and self.config.buffer.mutation_init:
            rng = random.Random(self.config.train.seed)
            source = MutationSource(
                self.split.seeds, self.split.training, max_side=self.config.data.max_grid_size
            )
            buffer.add_all(
                source.entries(
                    self.runner,
                    self.config.buffer.mutation_size,
                    rng,
                    progress=(lambda d, t: progress("mutation", d, t)) if progress else None,
                )
            )
        return RunState(buffer=buffer, score=CumulativeScore(t.id for t in self.targets))

    # ---- the loop -----------------------------------------------------------------------

    def run(
        self,
        on_iteration: Callable[[IterationRecord], None] | None = None,
        progress: Progress | None = None,
    ) -> RunState:
        """Run the remaining meta-iterations; returns the final state."""
        if self.state is None:
            self.state = self._initial_state(progress)
        state = self.state
        with JsonlLogger(self.run_dir / LOG_FILE) as log:
            while state.iteration < self.config.train.meta_iterations:
                record = self.iteration(state, progress)
                state.history.append(record)
                log.log(asdict(record))  # before the checkpoint: a resume drops it if unsaved
                self._save(state)
                if on_iteration is not None:
                    on_iteration(record)
        return state

    def iteration(self, state: RunState, progress: Progress | None = None) -> IterationRecord:
        """One meta-iteration: learn, sample, execute, score, relabel into the buffer."""
        config = self.config
        index = state.iteration
        rng = random.Random(f"{config.train.seed}:{index}")
        started = time.perf_counter()
        loss = self._learn(state.buffer, rng, progress) if self.learn else None
        learn_s = time.perf_counter() - started

        started = time.perf_counter()
        programs = self._sample(index, progress)
        sample_s = time.perf_counter() - started

        started = time.perf_counter()
        candidates = [
            (program, task)
            for task, group in zip(self.targets, programs, strict=True)
            for program in dict.fromkeys(group)
        ]
        evaluations = self.runner.evaluate_many(candidates)
        execute_s = time.perf_counter() - started

        valid = new = 0
        buffer = config.buffer
        for (program, task), done in zip(candidates, evaluations, strict=True):
            state.score.add(task.id, program, done.demo_score, done.test_correct)
            valid += all(not isinstance(o, str) for o in done.demo_outputs)
            entry = experience(
                task,
                program,
                done.demo_outputs,
                relabeling=buffer.relabel,
                partial=buffer.relabel_partial,
                skip_trivial=buffer.relabel_skip_trivial,
            )
            new += entry is not None and state.buffer.add(entry)
        stats = state.buffer.stats()
        return IterationRecord(
            iteration=index + 1,
            solved=len(state.score.solved_ids),
            targets=len(self.targets),
            solved_ids=state.score.solved_ids,
            loss=loss,
            programs=sum(len(g) for g in programs),
            valid_programs=valid,
            new_entries=new,
            buffer={s: int(v["entries"]) for s, v in stats.items()},
            learn_s=round(learn_s, 2),
            sample_s=round(sample_s, 2),
            execute_s=round(execute_s, 2),
        )

    def _learn(self, buffer: ReplayBuffer, rng: random.Random, progress: Progress | None) -> float:
        """The learning stage: fixed batches drawn with replacement, or (`replay = "epoch"`)
        one pass over a sample drawn without replacement; the mean loss of its steps."""
        train, config = self.config.train, self.config.buffer
        batches: list[list[ReplayEntry]] = []
        if len(buffer) and config.replay == "epoch":
            entries = buffer.epoch(
                config.epoch_size,
                rng,
                policy_fraction=config.policy_fraction,
                prioritized=config.prioritized,
            )
            batches = [
                entries[k : k + train.batch_size] for k in range(0, len(entries), train.batch_size)
            ]
        elif len(buffer):
            batches = [
                buffer.mix(
                    train.batch_size,
                    rng,
                    policy_fraction=config.policy_fraction,
                    prioritized=config.prioritized,
                )
                for _ in range(train.steps_per_iteration)
            ]
        if not batches:
            return float("nan")
        losses = []
        for step, batch in enumerate(batches):
            lessons = [Lesson(self._prompt(e.examples), e.program) for e in batch]
            losses.append(self.policy.learn(lessons))
            if progress:
                progress("learn", step + 1, len(batches))
        return sum(losses) / len(losses)

    def _prompt(self, examples: Sequence[Example]) -> str:
        data = self.config.data
        return task_prompt(
            examples,
            data.prompt_examples,
            encoding=data.prompt_encoding,
            max_tokens=data.prompt_tokens,
            count_tokens=self.policy.count_tokens,
        )

    def _sample(self, index: int, progress: Progress | None) -> list[list[str]]:
        search = self.config.search
        programs: list[list[str]] = []
        for start in range(0, len(self.targets), search.batch_tasks):
            chunk = self.targets[start : start + search.batch_tasks]
            prompts = [self._prompt(t.train) for t in chunk]
            programs += self.policy.sample(
                prompts,
                n=search.samples_per_task,
                temperature=search.temperature,
                max_new_tokens=search.max_new_tokens,
                seed=self.config.train.seed * 1_000_003 + index * 1009 + start,
            )
            if progress:
                progress("sample", len(programs), len(self.targets))
        return programs
