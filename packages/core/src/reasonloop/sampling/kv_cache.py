"""A KV cache that grows in place instead of being concatenated at every step.

transformers' DynamicCache appends one position with `torch.cat`, copying every layer's
whole cache at each decoding step. Here each layer keeps a buffer with spare room (doubling
when full) and exposes the filled part as a view, so a step writes only the new position.
Models with sliding-window or other special layers keep transformers' own cache.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedConfig
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer


class GrowingLayer(DynamicLayer):
    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._length = 0
        self._key_buffer = key_states.new_empty((*key_states.shape[:2], 0, key_states.shape[3]))
        self._value_buffer = value_states.new_empty(
            (*value_states.shape[:2], 0, value_states.shape[3])
        )

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: object, **kwargs: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        start, end = self._length, self._length + key_states.shape[-2]
        if end > self._key_buffer.shape[-2]:
            self._grow(max(end, 2 * self._key_buffer.shape[-2]))
        self._key_buffer[:, :, start:end] = key_states
        self._value_buffer[:, :, start:end] = value_states
        self._length = end
        self._expose()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self._length if self.is_initialized else 0

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized:
            self._key_buffer = self._key_buffer[indices]
            self._value_buffer = self._value_buffer[indices]
            self._expose()

    def _grow(self, capacity: int) -> None:
        def grown(buffer: torch.Tensor) -> torch.Tensor:
            bigger = buffer.new_empty((*buffer.shape[:2], capacity, buffer.shape[3]))
            bigger[:, :, : self._length] = buffer[:, :, : self._length]
            return bigger

        self._key_buffer, self._value_buffer = grown(self._key_buffer), grown(self._value_buffer)

    def _expose(self) -> None:
        self.keys = self._key_buffer[:, :, : self._length]
        self.values = self._value_buffer[:, :, : self._length]


def new_cache(config: PreTrainedConfig) -> Cache:
    """A growing cache when every layer is plain full attention, else DynamicCache."""
    text_config = config.get_text_config(decoder=True)
    layer_types = getattr(text_config, "layer_types", None) or ["full_attention"]
    if set(layer_types) == {"full_attention"} and not getattr(text_config, "sliding_window", None):
        return Cache(layer_class_to_replicate=GrowingLayer)
    return DynamicCache(config=config)
