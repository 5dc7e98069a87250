"""The ``transformer`` subject: a small decoder-only model trained from scratch on facts.

A prompt is ``[subject, relation]``; the model predicts the object at the last position.
Pre-LayerNorm blocks with causal self-attention and a GELU MLP. Sites (hookable activity):
``embed``, ``blocks.<i>.attn``, ``blocks.<i>.mlp.hidden`` (the MLP's hidden units),
``blocks.<i>.mlp``, ``blocks.<i>`` (the residual stream after the block). Projections (weight
layers): ``blocks.<i>.attn.qkv``, ``blocks.<i>.attn.out``, ``blocks.<i>.mlp.fc_in``,
``blocks.<i>.mlp.fc_out`` and ``unembed``.

>>> import torch
>>> m = FactsTransformer(TransformerSpec(layers=1, d_model=16, heads=2), vocab=10, seed=0)
>>> m(torch.tensor([[1, 5]])).shape, m.logits(torch.tensor([[1, 5]])).shape
(torch.Size([1, 2, 10]), torch.Size([1, 10]))
>>> m.edit_layer, m.key_position
('blocks.0.mlp.fc_out', -1)
"""

from __future__ import annotations

import math
from typing import Annotated

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from engramlab.subjects._hooks import HookedModule

__all__ = ["FactsTransformer", "TransformerSpec", "transformer_names"]


class TransformerSpec(BaseModel):
    """``subject: {transformer: {layers: 2, d_model: 64, heads: 4}}``.

    ``d_mlp`` defaults to 4 × ``d_model``; ``edit_layer`` (default: the last block) is the block
    whose MLP output projection a rank-one write (``coactivate``) edits, keyed at the answer
    token (the last position), where each fact has its own key.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    layers: Annotated[int, Field(ge=1, le=24)] = 2
    d_model: Annotated[int, Field(ge=4, le=4096)] = 64
    heads: Annotated[int, Field(ge=1, le=64)] = 4
    d_mlp: Annotated[int, Field(ge=1, le=16384)] | None = None
    bias: bool = True
    edit_layer: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _check(self) -> TransformerSpec:
        if self.d_model % self.heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by heads {self.heads}")
        if self.edit_layer is not None and self.edit_layer >= self.layers:
            raise ValueError(f"edit_layer {self.edit_layer} must be < layers {self.layers}")
        return self


def transformer_names(spec: TransformerSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(sites, projections)`` of a transformer spec."""
    sites, projs = ["embed"], []
    for i in range(spec.layers):
        sites += [f"blocks.{i}.attn", f"blocks.{i}.mlp.hidden", f"blocks.{i}.mlp", f"blocks.{i}"]
        projs += [
            f"blocks.{i}.attn.qkv",
            f"blocks.{i}.attn.out",
            f"blocks.{i}.mlp.fc_in",
            f"blocks.{i}.mlp.fc_out",
        ]
    return tuple(sites), (*projs, "unembed")


class _Attn(nn.Module):
    def __init__(self, d: int, heads: int, bias: bool):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d, bias=bias)
        self.out = nn.Linear(d, d, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        shape = (b, t, self.heads, d // self.heads)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(d // self.heads)
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        return self.out((att @ v).transpose(1, 2).reshape(b, t, d))


class _MLP(nn.Module):
    def __init__(self, d: int, d_mlp: int, bias: bool):
        super().__init__()
        self.fc_in = nn.Linear(d, d_mlp, bias=bias)
        self.fc_out = nn.Linear(d_mlp, d, bias=bias)


class _Block(nn.Module):
    def __init__(self, spec: TransformerSpec):
        super().__init__()
        d = spec.d_model
        self.ln1 = nn.LayerNorm(d)
        self.attn = _Attn(d, spec.heads, spec.bias)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = _MLP(d, spec.d_mlp or 4 * d, spec.bias)


class FactsTransformer(HookedModule):
    """Decoder-only transformer over ``[subject, relation]`` prompts (seeded init)."""

    kind = "transformer"

    def __init__(self, spec: TransformerSpec, vocab: int, seed: int, seq_len: int = 2):
        sites, projs = transformer_names(spec)
        super().__init__(sites)
        self.spec = spec
        torch_state = torch.random.get_rng_state()
        try:
            torch.manual_seed(int(seed))
            d = spec.d_model
            self.embed = nn.Embedding(vocab, d)
            self.pos = nn.Parameter(torch.randn(seq_len, d) * 0.02)
            self.blocks = nn.ModuleList(_Block(spec) for _ in range(spec.layers))
            self.ln_f = nn.LayerNorm(d)
            self.unembed = nn.Linear(d, vocab, bias=False)
        finally:
            torch.random.set_rng_state(torch_state)
        self._projections = projs
        last = spec.layers - 1 if spec.edit_layer is None else spec.edit_layer
        self.edit_layer = f"blocks.{last}.mlp.fc_out"
        self.key_position = -1

    @property
    def projections(self) -> tuple[str, ...]:
        return self._projections

    def linear(self, name: str) -> nn.Linear:
        """The ``nn.Linear`` called ``name``."""
        return self.get_submodule(name)  # type: ignore[return-value]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens) + self.pos[: tokens.shape[1]]
        h = self.run_hooks("embed", h)
        for i, blk in enumerate(self.blocks):
            a = self.run_hooks(f"blocks.{i}.attn", blk.attn(blk.ln1(h)))
            h = h + a
            hid = nn.functional.gelu(blk.mlp.fc_in(blk.ln2(h)))
            hid = self.run_hooks(f"blocks.{i}.mlp.hidden", hid)
            m = self.run_hooks(f"blocks.{i}.mlp", blk.mlp.fc_out(hid))
            h = self.run_hooks(f"blocks.{i}", h + m)
        return self.unembed(self.ln_f(h))

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Object scores at the last position ``(batch, vocab)``."""
        return self(tokens)[:, -1]
