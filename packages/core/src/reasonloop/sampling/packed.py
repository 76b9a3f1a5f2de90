"""One model pass for a running batch's next tokens and its joining prompts together.

Before this, a prompt joining a running batch was prefilled in a pass of its own, so every
join cost the running rows a whole extra forward (on a CPU a pass's price is mostly the
weights' and the framework's, not the tokens'). Here a step packs everything into one
sequence of the pass: first one token per slot of the batch (its decoding rows), then each
joining prompt's tokens (after the part a prefix cache already holds). The linear layers,
norms and rotary embeddings work token by token, so packing changes nothing for them; only
attention must keep the rows apart, which `packed_attention` does:

- the slots' tokens attend to their own slot's columns of the `SlotCache`, masked from each
  row's first column (what a plain decoding step does);
- each joining prompt attends causally to its own keys only: its cached prefix's, then its
  tokens'. Those keys are collected per layer in its `Segment` (what the batch then places
  into a free slot, and what the prefix cache stores).

A packed pass is a call of the model with `reasonloop_packed=` (its `PackedStep`), which
transformers hands to every attention call; `accept_packed_passes` wraps the model's attention
implementation so that such calls go to `packed_attention`, which runs transformers' own SDPA
attention for each part, so a packed step computes what separate passes computed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from reasonloop.extras import requires

with requires("models"):
    import torch
    from transformers import AttentionInterface, PreTrainedModel
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from reasonloop.sampling.prefix_cache import Layers


@dataclass
class Segment:
    """One joining prompt in a packed pass: its tokens are the pass's [first, first + length),
    after a cached prefix of `prefix_length` positions (`prefix`: its keys/values). `mask` is
    built once for the pass (every layer reads it)."""

    first: int
    length: int
    prefix_length: int = 0
    prefix: Layers = field(default_factory=list)
    layers: Layers = field(default_factory=list)  # filled by the pass: the whole prompt's
    mask: torch.Tensor | None = None

    @classmethod
    def of(
        cls, first: int, length: int, prefix_length: int, prefix: Layers, device: torch.device
    ) -> Segment:
        """A segment with its mask: causal over prefix + own tokens ([1, 1, length, prefix +
        length], True: seen); None without a prefix (SDPA's own causal mask, as a plain
        prefill uses)."""
        mask = None
        if prefix_length:
            queries = torch.arange(length, device=device)[:, None] + prefix_length
            keys = torch.arange(prefix_length + length, device=device)[None, :]
            mask = (keys <= queries)[None, None]
        return cls(first, length, prefix_length, prefix, mask=mask)

    def keep(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Record layer `layer`'s keys/values of the segment's tokens ([heads, length, dim])
        after its prefix's (layers come in order, once each pass)."""
        if layer != len(self.layers):
            raise RuntimeError(f"a packed pass computed layer {layer} out of order")
        if self.prefix:
            prefix_keys, prefix_values = self.prefix[layer]
            keys = torch.cat([prefix_keys, keys], dim=1)
            values = torch.cat([prefix_values, values], dim=1)
        self.layers.append((keys, values))


@dataclass
class PackedStep:
    """What a packed pass holds: `decode_rows` slot tokens first (slot i is token i; they
    see the columns `decode_mask` [slots, 1, 1, columns] allows), then the `segments`."""

    decode_rows: int
    decode_mask: torch.Tensor | None
    segments: list[Segment]

    @property
    def tokens(self) -> int:
        return self.decode_rows + sum(s.length for s in self.segments)

    def last_tokens(self) -> list[int]:
        """The positions in the pass whose logits are needed: every slot's token and each
        segment's last token."""
        return list(range(self.decode_rows)) + [s.first + s.length - 1 for s in self.segments]


def packed_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    *,
    packed: PackedStep,
    scaling: float | None = None,
) -> tuple[torch.Tensor, None]:
    """Attention of a packed pass: `query` [1, heads, tokens, dim]; `key`/`value` are the
    slots' keys/values [slots, kv heads, columns, dim] (the segments' own are in their
    `layers`). Returns [1, tokens, heads, dim], as transformers' attention functions do."""
    layer = getattr(module, "layer_idx", 0)
    parts = []
    rows = packed.decode_rows
    if rows:
        queries = query[0, :, :rows, None].transpose(0, 1)  # [slots, heads, 1, dim]
        out, _ = sdpa_attention_forward(
            module, queries, key, value, packed.decode_mask, scaling=scaling
        )
        parts.append(out[:, 0])
    for segment in packed.segments:
        keys, values = segment.layers[layer]
        out, _ = sdpa_attention_forward(
            module,
            query[:, :, segment.first : segment.first + segment.length],
            keys[None],
            values[None],
            segment.mask,
            scaling=scaling,
        )
        parts.append(out[0])
    return torch.cat(parts)[None], None


def accept_packed_passes(model: PreTrainedModel) -> None:
    """Let `model`'s attention take packed passes: its implementation (transformers'
    `AttentionInterface` entry named by the model's config) is wrapped, once for the process,
    by one that sends a call carrying `reasonloop_packed` to `packed_attention` and every
    other call, unchanged, to the implementation. Chosen per call, not by changing the
    model's settings, so other threads using the same model are not affected."""
    name = model.config.get_text_config(decoder=True)._attn_implementation or "eager"
    registered = ALL_ATTENTION_FUNCTIONS.get(name)
    if getattr(registered, "takes_packed_passes", False):
        return

    def implementation(module: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
        if registered is not None:
            return registered(module, *args, **kwargs)
        # "eager" is not registered: each model's attention falls back to its own module's
        return sys.modules[type(module).__module__].eager_attention_forward(module, *args, **kwargs)

    def attention(
        module: torch.nn.Module,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attention_mask: torch.Tensor | None,
        *args: Any,
        reasonloop_packed: PackedStep | None = None,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if reasonloop_packed is None:
            return implementation(module, query, key, value, attention_mask, *args, **kwargs)
        return packed_attention(
            module, query, key, value, packed=reasonloop_packed, scaling=kwargs.get("scaling")
        )

    attention.takes_packed_passes = True  # pyright: ignore[reportFunctionMemberAccess]
    AttentionInterface.register(name, attention)


# A packed pass brings its own masks; a 4-D mask makes transformers skip building one.
NO_MASK = torch.ones((1, 1, 1, 1), dtype=torch.bool)
