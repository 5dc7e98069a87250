"""The ``mlp`` subject: a multilayer perceptron behind the sites-and-hooks interface.

Sites are ``input`` and ``layers.<i>`` (the output of the i-th linear layer after its
activation; the last layer is linear and gives the logits). Projections — the weight layers
an engram lives in — are the linear modules ``layers.<i>``.

>>> import torch
>>> spec = MLPSpec(layers=[4, 8, 3], bias=False)
>>> m = MLP(spec, seed=0)
>>> m.sites, m.projections
(('input', 'layers.0', 'layers.1'), ('layers.0', 'layers.1'))
>>> with m.hooks({"layers.0": lambda t, *, site: t * 0}):
...     bool(m(torch.ones(2, 4)).abs().sum() == 0)
True
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from engramlab.subjects._hooks import HookedModule

__all__ = ["MLP", "MLPSpec"]

_ACT = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "gelu": nn.functional.gelu,
}


class MLPSpec(BaseModel):
    """``subject: {mlp: {layers: [64, 128, 64, 10], bias: false, activation: relu}}``.

    ``layers`` lists the sizes from the input to the output (at least two).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    layers: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(
        default_factory=lambda: [64, 128, 64, 10], min_length=2
    )
    bias: bool = False
    activation: Literal["relu", "tanh", "sigmoid", "gelu"] = "relu"


class MLP(HookedModule):
    """A seeded MLP; ``layers`` is an ``nn.ModuleList`` of ``nn.Linear``."""

    kind = "mlp"

    def __init__(self, spec: MLPSpec, seed: int):
        n = len(spec.layers) - 1
        super().__init__(("input", *(f"layers.{i}" for i in range(n))))
        self.spec = spec
        gen = torch.Generator().manual_seed(int(seed))
        self.layers = nn.ModuleList()
        for i in range(n):
            lin = nn.Linear(spec.layers[i], spec.layers[i + 1], bias=spec.bias)
            bound = 1.0 / spec.layers[i] ** 0.5  # torch's default init, from our generator
            with torch.no_grad():
                lin.weight.uniform_(-bound, bound, generator=gen)
                if lin.bias is not None:
                    lin.bias.uniform_(-bound, bound, generator=gen)
            self.layers.append(lin)
        self._act = _ACT[spec.activation]

    @property
    def projections(self) -> tuple[str, ...]:
        """Module paths of the weight layers."""
        return tuple(f"layers.{i}" for i in range(len(self.layers)))

    def linear(self, name: str) -> nn.Linear:
        """The ``nn.Linear`` called ``name``."""
        return self.get_submodule(name)  # type: ignore[return-value]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.run_hooks("input", x)
        last = len(self.layers) - 1
        for i, lin in enumerate(self.layers):
            h = lin(h)
            if i < last:
                h = self._act(h)
            h = self.run_hooks(f"layers.{i}", h)
        return h

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``(batch, classes)``."""
        return self(x)

    def layer_inputs(self) -> dict[str, str]:
        """For each projection, the site whose activity is its input."""
        return {
            f"layers.{i}": ("input" if i == 0 else f"layers.{i - 1}")
            for i in range(len(self.layers))
        }
