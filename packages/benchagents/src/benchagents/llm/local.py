"""An in-process core model: `reasonloop.models.loading.load_model` + the batched `Sampler`.

JSON answers are constrained by the schema's grammar (xgrammar), so a weak model always
produces syntactically valid JSON; what is left to retry is its content. The model loads on
first use, so building a backend (e.g. a target evaluated later) costs nothing until then.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from benchagents.llm.base import LLM, BackendError, GenerationOptions, Messages

if TYPE_CHECKING:
    from reasonloop.sampling.decoder import Sampler


class LocalBackend(LLM):
    batch_size = 4  # CPU decoding gains little from wider batches; padding costs more

    def __init__(self, model_spec: str = "smollm2-135m", *, device: str | None = None) -> None:
        super().__init__()
        self.model_spec = model_spec
        self.device = device
        self.name = f"local:{model_spec}"
        self._sampler: Sampler | None = None
        self._lock = threading.Lock()

    @property
    def sampler(self) -> Sampler:
        with self._lock:
            if self._sampler is None:
                from reasonloop.models import ModelSpecError
                from reasonloop.models.loading import load_model
                from reasonloop.sampling.decoder import Sampler

                try:
                    loaded = load_model(self.model_spec, device=self.device)
                except ModelSpecError as error:
                    raise BackendError(str(error)) from None
                self._sampler = Sampler(loaded.model, loaded.tokenizer)
            return self._sampler

    def generate(
        self, conversations: Sequence[Messages], options: GenerationOptions
    ) -> list[list[str]]:

        if not conversations:
            return []
        params = options.sampling_params()
        self.count("calls")
        groups = self.sampler.generate(list(conversations), params)
        return [[c.text for c in group] for group in groups]

    def close(self) -> None:
        with self._lock:
            self._sampler = None
