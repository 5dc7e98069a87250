"""The ``probe`` op on ML subjects: a linear probe of the concept on each site's activity."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from engramlab.analysis._probe import linear_probe
from engramlab.errors import RunError
from engramlab.ops._ml import MLRun, site_activity

if TYPE_CHECKING:
    from engramlab.protocol import Probe

__all__ = ["probe"]


def probe(phase: Probe, run: MLRun) -> None:
    """Per site, fit :func:`~engramlab.analysis.linear_probe` on the activity of ``data``'s
    training rows (label: the concept) and log its per-concept test accuracy in
    ``run.log['probes']`` as ``(phase, site, concepts, accuracy)``."""
    ds = run.dataset(phase.data)
    sites = getattr(run.model, "sites", ())
    for site in phase.sites:
        if sites and site not in sites:
            raise RunError(
                f"probe {phase.phase!r}: the subject has no site {site!r}; "
                f"sites: {', '.join(sites)}"
            )
    rows_tr, rows_te = ds.select(None, "train"), ds.select(None, "test")
    x_tr, _ = run.inputs(ds, rows_tr, "train")
    x_te, _ = run.inputs(ds, rows_te, "test")
    for site in phase.sites:
        acc = linear_probe(
            site_activity(run, site, x_tr).to(dtype=torch.float64).numpy(),
            ds.c_train[rows_tr],
            site_activity(run, site, x_te).to(dtype=torch.float64).numpy(),
            ds.c_test[rows_te],
            n_classes=len(ds.concepts),
            steps=phase.steps,
            lr=phase.lr,
            seed=int(run.seed),
        )
        run.log.setdefault("probes", []).append(
            (phase.phase, site, tuple(ds.concepts), np.asarray(acc, dtype=np.float64))
        )
