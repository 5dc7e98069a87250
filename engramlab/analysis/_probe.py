"""Linear probes after erasure: is a memory the behaviour lost still readable from the
network's activity (silent), or gone?

:func:`linear_probe` fits a multinomial logistic regression (torch, full-batch Adam, seeded)
on standardised features and scores it per class on held-out rows. The ``probe`` op runs it on
a subject's site activity and the run store keeps the result in ``/probes``;
:func:`probe_summary` reads the store: per subject, the probe accuracy of the forget concepts
and of the others in two probe phases (before and after an erase), with paired sign-flip tests.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = np.repeat([0, 1], 50)
>>> x = rng.normal(size=(100, 3)) + y[:, None] * 4.0
>>> linear_probe(x, y, x, y, n_classes=2).round(2).tolist()
[1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from engramlab.analysis._stats import cohens_dz, format_p, sign_flip_test

__all__ = ["format_probe", "linear_probe", "probe_summary"]


def linear_probe(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    n_classes: int | None = None,
    steps: int = 300,
    lr: float = 0.05,
    seed: int = 0,
    weight_decay: float = 1e-4,
) -> np.ndarray:
    """Per-class test accuracy (recall) of a logistic-regression probe fitted on the training
    rows; NaN for a class without test rows. Features are standardised with the training
    rows' mean and SD."""
    import torch  # here: reading a store needs no torch

    xt = torch.as_tensor(np.asarray(x_train), dtype=torch.float64)
    xs = torch.as_tensor(np.asarray(x_test), dtype=torch.float64)
    yt = torch.as_tensor(np.asarray(y_train), dtype=torch.long)
    ys = torch.as_tensor(np.asarray(y_test), dtype=torch.long)
    k = int(n_classes if n_classes is not None else max(int(yt.max()), int(ys.max())) + 1)
    mu, sd = xt.mean(0), xt.std(0).clamp(min=1e-8)
    xt, xs = (xt - mu) / sd, (xs - mu) / sd
    gen = torch.Generator().manual_seed(seed)
    w = (0.01 * torch.randn(xt.shape[1], k, generator=gen, dtype=torch.float64)).requires_grad_()
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(xt @ w + b, yt).backward()
        opt.step()
    with torch.no_grad():
        ok = ((xs @ w + b).argmax(1) == ys).numpy()
    y = ys.numpy()
    return np.array([ok[y == c].mean() if (y == c).any() else np.nan for c in range(k)])


def probe_summary(tree, forget: Sequence[str], before: str, after: str) -> xr.Dataset:
    """Per subject and site, the mean probe accuracy over the ``forget`` concepts and over the
    others in probe phases ``before`` and ``after``; as attributes per site, the paired
    sign-flip p and d_z of the change (after − before) on each split."""
    p = tree["probes"].to_dataset() if not isinstance(tree, xr.Dataset) else tree
    phases = [str(v) for v in p["probe_phase"].values]
    for ph in (before, after):
        if ph not in phases:
            raise ValueError(f"no probe phase {ph!r}; probe phases: {', '.join(phases)}")
    concepts = [str(c) for c in p["concept"].values]
    unknown = [c for c in forget if c not in concepts]
    if unknown:
        raise ValueError(f"forget concepts {unknown} were never probed")
    is_f = np.isin(concepts, list(forget))
    acc = p["probe_accuracy"]
    out = {}
    for name, sel in (("forget", is_f), ("retain", ~is_f)):
        for ph, tag in ((before, "before"), (after, "after")):
            v = acc.sel(probe_phase=ph).isel(concept=np.flatnonzero(sel)).mean("concept")
            out[f"{name}_{tag}"] = v.drop_vars("probe_phase")
    s = xr.Dataset(out)
    attrs = {"forget_concepts": ",".join(forget), "before": before, "after": after}
    for site in s["site"].values:
        for name in ("forget", "retain"):
            d = (s[f"{name}_after"] - s[f"{name}_before"]).sel(site=site).values
            attrs[f"{site}:{name}_p"] = sign_flip_test(d)
            attrs[f"{site}:{name}_dz"] = cohens_dz(d)
    s.attrs = attrs
    return s


def format_probe(s: xr.Dataset) -> str:
    """One line per site: forget and retain probe accuracy before → after, with p."""
    lines = []
    for site in s["site"].values:
        v = {k: float(s[k].sel(site=site).mean()) for k in s.data_vars}
        a = s.attrs
        lines.append(
            f"  {site}: forget {v['forget_before']:.3f} -> {v['forget_after']:.3f} "
            f"(p={format_p(a[f'{site}:forget_p'])}); retain {v['retain_before']:.3f} -> "
            f"{v['retain_after']:.3f} (p={format_p(a[f'{site}:retain_p'])})"
        )
    return "\n".join(lines)
