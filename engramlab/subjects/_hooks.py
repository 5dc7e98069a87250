"""Named hook sites and a context manager that always removes what it attached.

A hook is a function ``fn(tensor, *, site) -> Tensor | None``: returning ``None`` observes,
returning a tensor replaces the value flowing through the site. Hooks are attached only through
:meth:`HookedModule.hooks`, which removes them in ``finally`` — even when the body raises.

>>> import torch
>>> class Tiny(HookedModule):
...     def forward(self, x):
...         return self.run_hooks("out", x * 2)
>>> m = Tiny(sites=("out",))
>>> with m.hooks({"out": lambda t, *, site: t + 1}):
...     m(torch.ones(1)).item()
3.0
>>> m(torch.ones(1)).item(), m.active_hooks()
(2.0, {})
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from engramlab.errors import unknown_name

__all__ = ["HookFn", "HookHandle", "HookedModule"]

HookFn = Callable[..., "torch.Tensor | None"]


@dataclass(frozen=True)
class HookHandle:
    """One attached hook: its site, the function and the nesting level it was attached at."""

    site: str
    fn: HookFn
    level: int


class HookedModule(nn.Module):
    """A module whose named sites accept hooks.

    Subclasses call :meth:`run_hooks` at each site in ``forward``.
    """

    def __init__(self, sites: Sequence[str]):
        super().__init__()
        self._sites: tuple[str, ...] = tuple(sites)
        self._handles: list[HookHandle] = []
        self._level = 0

    @property
    def sites(self) -> tuple[str, ...]:
        """The hook sites this module exposes."""
        return self._sites

    def run_hooks(self, site: str, value: torch.Tensor) -> torch.Tensor:
        """Pass ``value`` through every hook attached at ``site``, in attachment order."""
        for h in self._handles:
            if h.site == site:
                out = h.fn(value, site=site)
                if out is not None:
                    value = out
        return value

    @contextmanager
    def hooks(self, hooks: Mapping[str, HookFn | Sequence[HookFn]]) -> Iterator[list[HookHandle]]:
        """Attach ``{site: fn or [fn, …]}`` for the duration of the ``with`` block."""
        self._level += 1
        added: list[HookHandle] = []
        try:
            for site, fns in hooks.items():
                if site not in self._sites:
                    raise unknown_name("hook site", site, self._sites)
                for fn in fns if isinstance(fns, Sequence) else [fns]:
                    h = HookHandle(site=site, fn=fn, level=self._level)
                    self._handles.append(h)
                    added.append(h)
            yield added
        finally:
            for h in added:
                self._handles.remove(h)
            self._level -= 1

    def active_hooks(self) -> dict[str, int]:
        """Number of hooks attached per site (empty when none)."""
        counts: dict[str, int] = {}
        for h in self._handles:
            counts[h.site] = counts.get(h.site, 0) + 1
        return counts
