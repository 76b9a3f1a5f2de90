"""A KV cache that grows in place instead of being concatenated at every step.

transformers' DynamicCache appends one position with `torch.cat`, copying every layer's
whole cache at each decoding step. Here each layer keeps a buffer with spare room (doubling
when full) and exposes the filled part as a view, so a step writes only the new position.
Models with sliding-window or other special layers keep transformers' own cache.

`SlotCache` is the server's layout for continuous batching: rows join and leave a running
batch without moving the other rows' keys and values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from reasonloop.extras import requires

with requires("models"):
    import torch
    from transformers import PreTrainedConfig
    from transformers.cache_utils import Cache, DynamicCache, DynamicLayer

from reasonloop.sampling.packed import PackedStep


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
        return self._expose()

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

    def _expose(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Point `keys`/`values` at the filled part of the buffers; returns them."""
        keys = self._key_buffer[:, :, : self._length]
        values = self._value_buffer[:, :, : self._length]
        self.keys, self.values = keys, values
        return keys, values


def new_cache(config: PreTrainedConfig) -> Cache:
    """A growing cache when every layer is plain full attention, else DynamicCache."""
    if plain_attention(config):
        return Cache(layer_class_to_replicate=GrowingLayer)
    return DynamicCache(config=config)


def plain_attention(config: PreTrainedConfig) -> bool:
    """Whether every layer is plain full attention (no sliding window, no special layers):
    a position's keys may then sit in any column, only the attention mask says who sees it."""
    text_config = config.get_text_config(decoder=True)
    layer_types = getattr(text_config, "layer_types", None) or ["full_attention"]
    return set(layer_types) == {"full_attention"} and not getattr(
        text_config, "sliding_window", None
    )


@dataclass
class Span:
    """The live columns [start, end) of a `SlotCache`, shared by all its layers."""

    start: int = 0
    end: int = 0


class SlotLayer(DynamicLayer):
    """One layer of a `SlotCache`: key/value buffers [slots, heads, columns, head dim]."""

    def __init__(self, span: Span, index: int) -> None:
        super().__init__()
        self.span = span
        self.index = index
        self.rows = 0  # slots the model sees (the batch dimension)
        self.packing: PackedStep | None = None  # the packed pass under way, if any

    def regrow(self, template: torch.Tensor, slots: int, columns: int, old: Span) -> None:
        """New zeroed buffers (never-written columns must be finite: masked keys still enter
        the attention product) holding the old live columns `old`, now ending at `span.end`."""
        shape = (slots, template.shape[1], columns, template.shape[3])
        keys, values = template.new_zeros(shape), template.new_zeros(shape)
        if self.is_initialized:
            width, end, rows = old.end - old.start, self.span.end, self.rows
            keys[:rows, :, end - width : end] = self._keys[:rows, :, old.start : old.end]
            values[:rows, :, end - width : end] = self._values[:rows, :, old.start : old.end]
        self._keys, self._values = keys, values
        self.is_initialized = True

    def capacity(self) -> tuple[int, int]:
        """(slots, columns) the buffers hold."""
        if not self.is_initialized:
            return 0, 0
        return self._keys.shape[0], self._keys.shape[2]

    def place(self, slot: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Write one row's prompt keys/values [heads, length, head dim] to end at `span.end`."""
        length = keys.shape[1]
        self._keys[slot, :, self.span.end - length : self.span.end] = keys
        self._values[slot, :, self.span.end - length : self.span.end] = values
        self.rows = max(self.rows, slot + 1)

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: object, **kwargs: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        packing = self.packing
        if packing is not None:
            # a packed pass [1, heads, tokens, dim]: the slots' tokens, then joining prompts'
            for segment in packing.segments:
                part = slice(segment.first, segment.first + segment.length)
                segment.keep(self.index, key_states[0, :, part], value_states[0, :, part])
            rows = packing.decode_rows
            if not rows:
                return key_states, value_states  # no slot decodes: attention reads none
            key_states = key_states[0, :, :rows, None].transpose(0, 1)
            value_states = value_states[0, :, :rows, None].transpose(0, 1)
        if key_states.shape[0] != self.rows or key_states.shape[2] != 1:
            raise ValueError("a SlotCache takes one new position for each of its rows")
        end = self.span.end
        self._keys[: self.rows, :, end] = key_states[:, :, 0]
        self._values[: self.rows, :, end] = value_states[:, :, 0]
        self.keys = self._keys[: self.rows, :, self.span.start : end + 1]
        self.values = self._values[: self.rows, :, self.span.start : end + 1]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.span.end - self.span.start

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        kept = len(indices)
        self._keys[:kept] = self._keys[indices]
        self._values[:kept] = self._values[indices]
        self.rows = kept


class SlotCache(Cache):
    """A KV cache of row slots on a shared column axis, for continuous batching.

    Row r's keys occupy the columns [its start, span.end) of its slot; the attention mask
    hides every other column. A joining row's prompt is written into a free slot so that it
    ends at `span.end` (no other row's cache moves), a leaving row only frees its slot (the
    next joiner reuses it), and each step appends one column to every slot in place. Copies
    happen only when the buffers must grow (doubling, so amortized) and when the caller
    compacts the slots (`batch_select_indices`; the decoder does it once as many slots are free
    as are used, so each copied row is paid for by one that left). Columns before every live
    row's start are dropped by moving `span.start` (`trim`), so the width is the longest live
    row's span, not the time the batch has been running. The price of growing by doubling:
    the buffers may hold up to twice the slots and about twice the columns in use.
    """

    layers: list[SlotLayer]  # Cache's own annotation allows any layer; these are all slots

    def __init__(self, layers: int) -> None:
        self.span = Span()
        super().__init__(layers=[SlotLayer(self.span, i) for i in range(layers)])

    @property
    def rows(self) -> int:
        return self.layers[0].rows

    @contextmanager
    def packed(self, step: PackedStep) -> Iterator[None]:
        """Let a packed pass (`reasonloop.sampling.packed`) update the layers in the block."""
        for layer in self.layers:
            layer.packing = step
        try:
            yield
        finally:
            for layer in self.layers:
                layer.packing = None

    def reserve(
        self, slots: int, length: int, template: Sequence[torch.Tensor] | None = None
    ) -> int:
        """Room for `slots` slots, a row of `length` columns ending at `span.end` and the next
        step's column; grows (one copy of the live part) only when the buffers lack it.
        `template`: per layer, keys [rows, heads, length, dim], for the first allocation.
        Returns how far the columns moved (add it to every column index kept outside)."""
        have_slots, have_columns = self.layers[0].capacity()
        span = self.span
        if slots <= have_slots and length <= span.end and span.end < have_columns:
            return 0
        old_end = span.end
        old = Span(span.start, span.end)
        width = span.end - span.start
        span.end = max(width, length)
        span.start = span.end - width
        columns = span.end + max(width, length, 16)  # room to decode before growing again
        slots = max(slots, 2 * have_slots) if slots > have_slots else have_slots
        for i, layer in enumerate(self.layers):
            if layer.is_initialized:
                source = layer._keys
            elif template is not None:
                source = template[i]
            else:
                raise ValueError("reserve: the first allocation needs a template (keys per layer)")
            layer.regrow(source, slots, columns, old)
        return span.end - old_end

    def trim(self, start: int) -> None:
        """Drop the columns before `start` (no live row sees them): a view, no copy."""
        self.span.start = max(self.span.start, min(start, self.span.end))
