"""The four BenchAgents agents: planner, generator, verifier, evaluator."""

from benchagents.agents.evaluator import EvaluationSettings, Evaluator, metric_rows
from benchagents.agents.generator import GenerationResult, Generator, Rewrite
from benchagents.agents.planner import PlanEdits, Planner, Revision, apply_edits
from benchagents.agents.progress import ProgressFactory, no_progress
from benchagents.agents.verifier import (
    LLM_CHECK_MODES,
    InstanceVerdict,
    LLMCheckMode,
    VerificationResult,
    Verifier,
    fact_problem,
)

__all__ = [
    "LLM_CHECK_MODES",
    "EvaluationSettings",
    "Evaluator",
    "GenerationResult",
    "Generator",
    "InstanceVerdict",
    "LLMCheckMode",
    "PlanEdits",
    "Planner",
    "ProgressFactory",
    "Revision",
    "Rewrite",
    "VerificationResult",
    "Verifier",
    "apply_edits",
    "fact_problem",
    "metric_rows",
    "no_progress",
]
