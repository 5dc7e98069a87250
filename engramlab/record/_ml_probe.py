"""The ``/probes`` node of an ML run: per probe phase, site and concept, the test accuracy of
a linear probe of the concept fitted on the site's activity (``probe`` op)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from engramlab.record._tree import _attrs

__all__ = ["probes_node"]


def probes_node(logs, sc, nodes) -> None:
    """Add ``/probes`` to ``nodes`` when any probe phase ran."""
    runs = [r for lg in logs for r in lg.runs]
    found = [r.log.get("probes", []) for r in runs]
    phases = list(dict.fromkeys(e[0] for per in found for e in per))
    if not phases:
        return
    sites = list(dict.fromkeys(e[1] for per in found for e in per))
    concepts = list(dict.fromkeys(c for per in found for e in per for c in e[2]))
    acc = np.full((len(runs), len(phases), len(sites), len(concepts)), np.nan)
    for row, per in enumerate(found):
        for ph, site, names, a in per:
            for c, v in zip(names, a, strict=True):
                acc[row, phases.index(ph), sites.index(site), concepts.index(c)] = v
    c = dict(sc)
    c["probe_phase"] = ("probe_phase", np.array(phases, dtype=object), _attrs("1", "phase"))
    c["site"] = ("site", np.array(sites, dtype=object), _attrs("1", "site probed"))
    c["concept"] = ("concept", np.array(concepts, dtype=object), _attrs("1", "concept"))
    nodes["probes"] = xr.Dataset(
        {
            "probe_accuracy": (
                ("subject", "probe_phase", "site", "concept"),
                acc,
                _attrs("1", "test accuracy of a linear probe of the concept on the activity"),
            )
        },
        coords=c,
        attrs={"probe": "multinomial logistic regression, standardised features, seeded"},
    )
