"""Relearning savings — the dormancy criterion for networks: a memory that was erased only
from behaviour (silent) comes back faster on retraining than it is learned by a network that
never knew it (savings, the classic relearning measure).

The relearning curve is a sequence of test phases, each after a short training phase; per
subject, the forget concepts' accuracy at each and the trials (steps) to criterion. A treated
group (e.g. erased) is compared with a reference group (naive, or sham-edited) of the same
schedule: savings = (reference's mean trials to criterion − the subject's) / the reference's
mean, and independent-groups permutation tests on trials to criterion and on the accuracy
after the first step. :func:`group_contrasts` sets two edits given to different groups side by
side on everything the dormancy question asks (forgetting, collateral damage, probe readability,
relearning). Nothing here knows a protocol: groups, phases and concepts are arguments.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from engramlab.analysis._stats import cohens_d, format_dz, format_p, permutation_test

__all__ = ["format_group_contrasts", "format_savings", "group_contrasts", "relearning_savings"]


def _curve(b: xr.Dataset, forget: Sequence[str], phases: Sequence[str]) -> np.ndarray:
    def row(name: str) -> np.ndarray:
        v = b[name].values
        return np.asarray([str(x) for x in (v if v.ndim == 1 else v[0])])

    phase, concept = row("phase"), row("concept")
    known = list(dict.fromkeys(phase.tolist()))
    missing = [p for p in phases if p not in known]
    if missing:
        raise ValueError(f"no test trials in phase(s) {missing}; phases with trials: {known}")
    unknown = [c for c in forget if c not in set(concept)]
    if unknown:
        raise ValueError(f"forget concepts {unknown} were never tested")
    acc = np.asarray(b["accuracy"].values, dtype=np.float64)
    is_f = np.isin(concept, list(forget))
    return np.stack([np.nanmean(acc[:, (phase == p) & is_f], axis=1) for p in phases], axis=1)


def relearning_savings(
    tree,
    forget: Sequence[str],
    phases: Sequence[str],
    treated: str,
    reference: str,
    *,
    criterion: float = 0.9,
    steps: Sequence[float] | None = None,
) -> xr.Dataset:
    """Savings of group ``treated`` against group ``reference`` on relearning ``forget``.

    ``phases`` are the test phases of the relearning curve in order, ``steps`` the training
    (steps or epochs) done before each (default 1, 2, …). A subject that never reaches
    ``criterion`` counts one step interval past the last test (a lower bound). Returns
    ``accuracy`` (subject, step), ``trials_to_criterion`` and ``savings`` (subject; savings
    against the reference group's mean), and as attributes the group means, the savings of the
    treated group, and the permutation p of trials to criterion and of first-step accuracy."""
    b = tree if isinstance(tree, xr.Dataset) else tree["behaviour"].to_dataset()
    steps = np.asarray(steps if steps is not None else np.arange(1, len(phases) + 1), float)
    if steps.size != len(phases):
        raise ValueError(f"{len(phases)} relearning phases but {steps.size} steps")
    groups = np.asarray([str(g) for g in b["group"].values])
    for g in (treated, reference):
        if g not in set(groups):
            raise ValueError(f"no subject in group {g!r}; groups: {sorted(set(groups))}")
    acc = _curve(b, forget, phases)
    last = steps[-1] + (steps[-1] - steps[-2] if steps.size > 1 else steps[-1])
    hit = acc >= criterion
    ttc = np.where(hit.any(1), steps[np.argmax(hit, axis=1)], last)
    t, r = groups == treated, groups == reference
    ref_mean = float(ttc[r].mean())
    savings = (ref_mean - ttc) / ref_mean
    return xr.Dataset(
        {
            "accuracy": (("subject", "step"), acc, {"long_name": "forget-split accuracy"}),
            "trials_to_criterion": ("subject", ttc, {"long_name": f"steps to {criterion:g}"}),
            "reached": ("subject", hit.any(1), {"long_name": "criterion reached"}),
            "savings": ("subject", savings, {"long_name": "savings against the reference"}),
        },
        coords={"subject": b["subject"].values, "group": ("subject", groups), "step": steps},
        attrs={
            "forget_concepts": ",".join(forget),
            "treated": treated,
            "reference": reference,
            "criterion": criterion,
            "ttc_treated": float(ttc[t].mean()),
            "ttc_reference": ref_mean,
            "savings_treated": float(savings[t].mean()),
            "ttc_p": permutation_test(ttc[t], ttc[r]),
            "first_treated": float(acc[t, 0].mean()),
            "first_reference": float(acc[r, 0].mean()),
            "first_p": permutation_test(acc[t, 0], acc[r, 0]),
            "test": "two-sided permutation test, independent groups",
        },
    )


def format_savings(s: xr.Dataset) -> str:
    """One line: trials to criterion, savings and first-step accuracy, with their p."""
    a = s.attrs
    return (
        f"relearning {a['forget_concepts']} ({a['treated']} vs {a['reference']}): steps to "
        f"{a['criterion']:g} {a['ttc_treated']:.2f} vs {a['ttc_reference']:.2f} "
        f"(p={format_p(a['ttc_p'])}), savings {a['savings_treated']:+.2f}; after the first "
        f"step {a['first_treated']:.3f} vs {a['first_reference']:.3f} "
        f"(p={format_p(a['first_p'])})"
    )


def _groups_of(ds: xr.Dataset, *names: str) -> np.ndarray:
    groups = np.asarray([str(g) for g in ds["group"].values])
    for g in names:
        if g not in set(groups):
            raise ValueError(f"no subject in group {g!r}; groups: {sorted(set(groups))}")
    return groups


def group_contrasts(
    tree,
    forget: Sequence[str],
    treated: str,
    reference: str,
    *,
    after: str,
    probe: tuple[str, str] | None = None,
    relearn: Sequence[str] | None = None,
    steps: Sequence[float] | None = None,
    criterion: float = 0.9,
) -> xr.Dataset:
    """Group ``treated`` against group ``reference`` (different subjects, e.g. two ways of
    removing the same memory) on: accuracy on the ``forget`` concepts and on the others in test
    phase ``after``; with ``probe`` = (before, after) probe phases, the probe accuracy on the
    ``forget`` concepts in the second, per site; with ``relearn`` (the test phases of a
    relearning curve, ``steps`` as in :func:`relearning_savings`), the steps to ``criterion``
    and the accuracy after the first step.

    Dims ``measure``: the two groups' means, the difference treated − reference, its
    two-sided independent-groups permutation p and Cohen's d (pooled SD, floored), and the
    group sizes."""
    from engramlab.analysis._probe import probe_summary
    from engramlab.analysis._unlearning import unlearning_summary

    b = tree if isinstance(tree, xr.Dataset) else tree["behaviour"].to_dataset()
    groups = _groups_of(b, treated, reference)
    u = unlearning_summary(b, forget, after, [])
    rows = [
        (f"forget accuracy ({after})", groups, u["forget"].values[:, 0]),
        (f"retain accuracy ({after})", groups, u["retain"].values[:, 0]),
    ]
    if probe is not None:
        p = tree["probes"].to_dataset() if not isinstance(tree, xr.Dataset) else tree
        pg = _groups_of(p, treated, reference)
        ps = probe_summary(p, forget, *probe)
        for site in ps["site"].values:
            v = ps["forget_after"].sel(site=site).transpose("subject").values
            rows.append((f"probe {site} forget ({probe[1]})", pg, v))
    if relearn is not None:
        s = relearning_savings(
            b, forget, relearn, treated, reference, criterion=criterion, steps=steps
        )
        rows.append(
            (f"steps to {criterion:g} (relearning)", groups, s["trials_to_criterion"].values)
        )
        rows.append((f"forget accuracy ({relearn[0]})", groups, s["accuracy"].values[:, 0]))
    fields: dict[str, list] = {k: [] for k in _CONTRAST_FIELDS}
    for _, g, v in rows:
        a, r = np.asarray(v[g == treated], float), np.asarray(v[g == reference], float)
        fields["treated_mean"].append(float(np.nanmean(a)))
        fields["reference_mean"].append(float(np.nanmean(r)))
        fields["difference"].append(float(np.nanmean(a) - np.nanmean(r)))
        fields["p"].append(permutation_test(a, r))
        fields["d"].append(cohens_d(a, r))
        fields["n_treated"].append(int(np.isfinite(a).sum()))
        fields["n_reference"].append(int(np.isfinite(r).sum()))
    return xr.Dataset(
        {k: ("measure", np.asarray(v)) for k, v in fields.items()},
        coords={"measure": [m for m, _, _ in rows]},
        attrs={
            "treated": treated,
            "reference": reference,
            "forget_concepts": ",".join(forget),
            "test": "two-sided permutation test, independent groups; Cohen's d (pooled SD)",
        },
    )


_CONTRAST_FIELDS = (
    "treated_mean",
    "reference_mean",
    "difference",
    "p",
    "d",
    "n_treated",
    "n_reference",
)


def format_group_contrasts(c: xr.Dataset) -> str:
    """One line per :func:`group_contrasts` measure."""
    a = c.attrs
    lines = [f"{a['treated']} vs {a['reference']} (forget {a['forget_concepts']}):"]
    for m in c["measure"].values:
        r = {k: float(c[k].sel(measure=m)) for k in c.data_vars}
        lines.append(
            f"  {m}: {r['treated_mean']:.3f} vs {r['reference_mean']:.3f} "
            f"(Δ {r['difference']:+.3f}, p={format_p(r['p'])}, d {format_dz(r['d'])}; "
            f"n={int(r['n_treated'])}+{int(r['n_reference'])})"
        )
    return "\n".join(lines)
