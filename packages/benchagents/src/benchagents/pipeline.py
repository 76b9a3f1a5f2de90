"""The stage machine: planning -> generation -> verification -> evaluation -> done.

`Pipeline` is an open run (`benchagents.open_run`: created, imported or opened) that runs its
stages (`benchagents.stages`) in order, with the review (`benchagents.review`) after each when
the run's config says so. The state is saved atomically after every step, so `resume`
continues after a quit, a `stop_after`, Ctrl-C or a crash: a stage that did not finish runs
again from its inputs, which are files, with the same seeds.
"""

from __future__ import annotations

from benchagents import stages
from benchagents.open_run import OpenRun
from benchagents.review import review
from benchagents.run_files import STAGES, RunState, Stage, now
from benchagents.scoring import Metric, ScoreReport


class Stopped(Exception):
    """The run stopped before `done` (quit, stop_after, Ctrl-C); its state is saved."""

    def __init__(self, stage: Stage, reason: str) -> None:
        self.stage = stage
        self.reason = reason
        super().__init__(f"stopped at {stage} ({reason})")


class Pipeline(OpenRun):
    """One run driven through its stages and reviews."""

    def run(self, stop_after: Stage | None = None) -> RunState:
        """Run (or continue) to `done`; raises Stopped after `stop_after` or a quit."""
        self.files.recover()
        try:
            while self.state.stage != "done":
                stage = self.state.stage
                if not self.state.awaiting_review:
                    self.files.log("stage_started", stage=stage)
                    stages.STAGE_WORK[stage](self, None)
                    self.state.awaiting_review = True
                    self.files.save_state(self.state)
                if self.state.config.run.review and not review(self, stage):
                    self.files.log("quit", stage=stage)
                    raise Stopped(stage, "quit")
                self.state.stage = STAGES[STAGES.index(stage) + 1]
                self.state.awaiting_review = False
                self.state.history.append({"stage": stage, "finished": now()})
                self.files.save_state(self.state)
                self.files.log("stage_finished", stage=stage)
                if stage == stop_after and self.state.stage != "done":
                    raise Stopped(self.state.stage, f"stop after {stage}")
        except KeyboardInterrupt:
            self.files.save_state(self.state)
            self.files.log("interrupted", stage=self.state.stage)
            raise Stopped(self.state.stage, "interrupted") from None
        return self.state

    def evaluate(
        self, spec: str, *, samples: int | None = None, metric: Metric | None = None
    ) -> ScoreReport:
        """Evaluate one target model on this run's latest dataset; writes evaluation/<spec>/."""
        return stages.evaluate(self, spec, samples=samples, metric=metric)
