"""Atomic training checkpoints: written to a temporary directory, then renamed into place.

A checkpoint holds the trainable weights (the LoRA adapter, or the whole model for full
fine-tuning), the optimizer, the RNG states, the step and any method-specific files (a replay
buffer, solutions so far). `latest` names the newest complete
checkpoint; a crash mid-save leaves the previous one intact (and a hidden temporary directory,
which `resume_checkpoint` removes with the atomic writes' leftovers before resuming). Data order
and sampling seeds are functions of (seed, step), so restoring these is enough for `--resume` to
continue exactly.

Only the newest `keep_last` checkpoints stay (a config's `[checkpoint] keep_last`; a 3B
full fine-tune writes ~38 GB a checkpoint); the newest and the one a run resumed from are never
removed.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from reasonloop.extras import requires

with requires("models"):
    import torch

from reasonloop.atomic import LEFTOVERS, TMP_SUFFIX, remove_leftovers, write_atomic
from reasonloop.configfile import CheckpointSection

LATEST = "latest"
STATE_FILE = "trainer_state.pt"
WEIGHTS_DIR = "weights"


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step-{step:06d}"


def save_checkpoint(
    run_dir: Path,
    step: int,
    model: Any,
    optimizer: torch.optim.Optimizer,
    extra_files: Mapping[str, str] | None = None,
    *,
    settings: CheckpointSection | None = None,
    protect: Collection[Path] = (),
) -> Path:
    """Write checkpoint `step` atomically, point `latest` at it, then remove the checkpoints
    older than the newest `settings.keep_last` (none of `protect`: the one resumed from).

    `extra_files` (file name -> text) land in the same directory, so they are saved and
    restored together with the weights they belong to.
    """
    final = checkpoint_dir(run_dir, step)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=TMP_SUFFIX))
    try:
        model.save_pretrained(tmp / WEIGHTS_DIR)  # a PEFT model saves its adapter only
        state = {
            "step": step,
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python_rng": random.getstate(),
        }
        torch.save(state, tmp / STATE_FILE)
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_atomic(run_dir / LATEST, final.name)
    prune_checkpoints(
        run_dir, (settings or CheckpointSection()).keep_last, protect={final, *protect}
    )
    return final


def prune_checkpoints(run_dir: Path, keep_last: int, protect: Collection[Path] = ()) -> list[Path]:
    """Remove the finished checkpoints of `run_dir` older than its newest `keep_last`, except
    those in `protect`; returns the ones removed."""
    kept = {path.resolve() for path in protect}
    finished = sorted(
        path
        for path in (run_dir / "checkpoints").glob("step-*")
        if path.is_dir() and path.name[len("step-") :].isdigit()
    )
    removed = [p for p in finished[: max(len(finished) - keep_last, 0)] if p.resolve() not in kept]
    for path in removed:
        shutil.rmtree(path)
    return removed


def latest_checkpoint(run_dir: Path) -> Path | None:
    pointer = run_dir / LATEST
    if not pointer.is_file():
        return None
    path = run_dir / "checkpoints" / pointer.read_text().strip()
    return path if (path / STATE_FILE).is_file() else None


def resume_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint a resumed run starts from, after removing what a crash left in
    `run_dir` (unfinished checkpoint directories, temporary files; one logged line)."""
    if run_dir.is_dir():  # checkpoint temp dirs of older runs lack the suffix
        remove_leftovers(run_dir, (*LEFTOVERS, "checkpoints/.step-*"))
    return latest_checkpoint(run_dir)


def load_state(checkpoint: Path) -> dict[str, Any]:
    """The trainer state; restores the RNGs as a side effect."""
    state = torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=False)
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    random.setstate(state["python_rng"])
    return state


def restore_weights(model: Any, checkpoint: Path, *, lora: bool) -> None:
    """Load a checkpoint's trainable weights into the live (possibly PEFT-wrapped) model."""
    from safetensors.torch import load_file

    weights = checkpoint / WEIGHTS_DIR
    if lora:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(weights / "adapter_model.safetensors"))
        return
    state: dict[str, torch.Tensor] = {}
    for shard in sorted(weights.glob("*.safetensors")):
        state.update(load_file(shard))
    missing, _ = model.load_state_dict(state, strict=False)
    lacking = [k for k in missing if "lm_head" not in k]  # a tied lm_head is not saved apart
    if lacking:
        raise ValueError(f"checkpoint {checkpoint} lacks weights: {', '.join(lacking[:3])}")
