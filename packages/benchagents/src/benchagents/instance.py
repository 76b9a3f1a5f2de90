"""One benchmark instance: the prompt a target model sees plus what its checkers need."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Instance(BaseModel):
    """`params` are the sweep values it was generated with, `constraints` only the active ones
    (name -> value), `metadata` the domain's data (calendar: availability), `reference` a correct
    answer when the domain has one (calendar: the solver's answer; text: a witness text)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    prompt: str
    params: dict[str, Any]
    constraints: dict[str, Any]
    metadata: dict[str, Any] = {}
    reference: str | None = None
