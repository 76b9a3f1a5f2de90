"""The review after a stage: a person approves, edits, gives feedback or quits.

With review on, the pipeline asks after each stage: [a]pprove goes on; [e]dit re-reads and
validates the stage's editable files (`run_files.EDITABLE`; an error is shown and the question
asked again); [f]eedback gives the stage's agent a text to revise by (`stages.STAGE_WORK`);
[q]uit stops the run, its state saved, for `resume`. End of input answers quit (`ui.UI`).
"""

from __future__ import annotations

import random

from rich.markup import escape

from benchagents.open_run import OpenRun
from benchagents.run_files import EDITABLE, PLAN, RAW, VERIFIED, PipelineError, Stage
from benchagents.stages import STAGE_WORK


def review(run: OpenRun, stage: Stage) -> bool:
    """Ask until approved (True) or quit (False)."""
    files = ", ".join(str(run.files.path(name)) for name in EDITABLE[stage])
    run.ui.out.print(f"[bold]review {stage}[/bold]: edit {files} as you like, then answer")
    while True:
        choice = (
            run.ui.ask("[a]pprove, [e]dit (re-read the files), [f]eedback, [q]uit? ")
            .strip()
            .lower()
        )
        if choice in ("a", "approve"):
            run.files.log("approved", stage=stage)
            return True
        if choice in ("q", "quit"):
            return False
        if choice in ("e", "edit"):
            try:
                _reread(run, stage)
            except (PipelineError, ValueError) as error:
                run.ui.err.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
                continue
            run.files.log("edited", stage=stage, files=list(EDITABLE[stage]))
            run.ui.out.print(f"re-read {files}: valid")
        elif choice in ("f", "feedback"):
            text = run.ui.ask("feedback: ").strip()
            if text:
                run.files.log("feedback", stage=stage, text=text)
                STAGE_WORK[stage](run, text)
                run.files.save_state(run.state)
        else:
            run.ui.err.print("answer a, e, f or q")


def _reread(run: OpenRun, stage: Stage) -> None:
    """Validate what a person edited; a file that does not validate raises, naming it."""
    if stage in ("planning", "evaluation"):
        plan = run.files.plan()
        try:
            run.domain.sample_params(plan, random.Random(0))
        except (KeyError, ValueError) as error:
            raise PipelineError(f"{run.files.path(PLAN)}: {error}") from None
    elif stage == "generation":
        run.files.instances(RAW)
    else:
        run.files.instances(VERIFIED)
