"""Unlearning scored the way TOFU reports it (Maini et al. 2024): a forget-quality /
model-utility pair, read from a run's ``/behaviour``.

- **Forget quality**: the two-sample Kolmogorov–Smirnov p value between the forget split's
  values of a measure (one per subject and forget concept) in the edited model and in a
  reference model that never learned the forget split. A high p means the edited model's
  forget split cannot be told from never having learned it; a low p means it can (not
  forgotten, or over-forgotten). TOFU compares truth ratios, which need perturbed answers;
  here the measure is any ``/behaviour`` variable — for text, ``response`` is the mean
  probability of the answer tokens.
- **Model utility**: per subject, the harmonic mean over measures (default ``accuracy`` and,
  for text, the answer probability ``response``) of their means over the retain split. Like
  TOFU's, it collapses when any one of them collapses.

Nothing here knows a protocol: the phases, groups and concepts are arguments.

>>> import numpy as np, xarray as xr
>>> acc = np.array([[1.0, 1.0, 0.0, 1.0, 0.2, 0.8]] * 4)
>>> b = xr.Dataset({"accuracy": (("subject", "trial"), acc),
...                 "response": (("subject", "trial"), acc * 0.5)},
...                coords={"phase": ("trial", ["base"] * 3 + ["cut"] * 3),
...                        "concept": ("trial", ["a", "b", "c"] * 2),
...                        "group": ("subject", ["g"] * 4)})
>>> model_utility(b, ["a"], "cut").values.round(3).tolist()
[0.333, 0.333, 0.333, 0.333]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from engramlab.analysis._unlearning import _behaviour

__all__ = ["forget_quality", "forget_quality_report", "format_forget_quality", "model_utility"]


def _values(
    b: xr.Dataset,
    concepts_in: Sequence[str],
    phase: str,
    group: str | None,
    measure: str,
    *,
    inside: bool,
) -> np.ndarray:
    """(subject, trial) values of ``measure`` in ``phase`` (and ``group``) on the concepts
    in ``concepts_in`` (``inside``) or on every other concept."""
    if measure not in b:
        raise ValueError(
            f"no /behaviour variable {measure!r}; variables: {', '.join(map(str, b.data_vars))}"
        )
    phases = np.asarray([str(v) for v in b["phase"].values])
    if phase not in set(phases):
        known = ", ".join(dict.fromkeys(phases.tolist()))
        raise ValueError(f"no test trials in phase {phase!r}; phases with trials: {known}")
    concepts = np.asarray([str(v) for v in b["concept"].values])
    hit = np.isin(concepts, list(concepts_in))
    cols = (phases == phase) & (hit if inside else ~hit)
    v = np.asarray(b[measure].values, dtype=np.float64)[:, cols]
    if group is not None:
        groups = np.asarray([str(g) for g in b["group"].values])
        if group not in set(groups):
            raise ValueError(f"no group {group!r}; groups: {', '.join(dict.fromkeys(groups))}")
        v = v[groups == group]
    return v


def forget_quality(
    tree,
    forget: Sequence[str],
    phase: str,
    reference_phase: str,
    *,
    group: str | None = None,
    reference_group: str | None = None,
    measure: str = "response",
) -> dict:
    """TOFU's forget quality: the KS two-sample p between ``measure`` on the ``forget``
    concepts after ``phase`` (subjects of ``group``, all when None) and after
    ``reference_phase`` in a model that never learned them (``reference_group``).

    Returns ``p`` (the forget quality), the KS ``statistic``, the two sample sizes and means.
    """
    from scipy import stats

    b = _behaviour(tree)
    a = _values(b, forget, phase, group, measure, inside=True).ravel()
    r = _values(b, forget, reference_phase, reference_group, measure, inside=True).ravel()
    a, r = a[~np.isnan(a)], r[~np.isnan(r)]
    if a.size == 0 or r.size == 0:
        raise ValueError(
            f"no {measure} values of the forget concepts {list(forget)} in phase "
            f"{phase if a.size == 0 else reference_phase!r}"
        )
    res = stats.ks_2samp(a, r)
    return {
        "p": float(res.pvalue),
        "statistic": float(res.statistic),
        "n": int(a.size),
        "n_reference": int(r.size),
        "mean": float(a.mean()),
        "reference_mean": float(r.mean()),
        "measure": measure,
    }


def model_utility(
    tree,
    forget: Sequence[str],
    phase: str,
    *,
    group: str | None = None,
    measures: Sequence[str] = ("accuracy", "response"),
) -> xr.DataArray:
    """TOFU-style model utility per subject: the harmonic mean over ``measures`` of their
    mean over the retain split (every concept tested that is not in ``forget``) in
    ``phase``. Measures missing from ``/behaviour`` are an error; a measure that is not in
    [0, 1] (e.g. a logit norm) should not be named. 0 when any measure's mean is 0."""
    b = _behaviour(tree)
    means = []
    for m in measures:
        v = _values(b, forget, phase, group, m, inside=False)
        means.append(np.nanmean(v, axis=1))
    x = np.stack(means)  # (measure, subject)
    with np.errstate(divide="ignore"):
        h = np.where((x > 0).all(axis=0), len(measures) / np.sum(1.0 / x, axis=0), 0.0)
    subjects = b["subject"].values if "subject" in b.coords else np.arange(h.size)
    if group is not None:
        subjects = subjects[np.asarray([str(g) for g in b["group"].values]) == group]
    return xr.DataArray(
        h,
        dims=("subject",),
        coords={"subject": subjects},
        name="model_utility",
        attrs={
            "long_name": f"harmonic mean of retain-split {', '.join(measures)}",
            "units": "1",
        },
    )


def _reference_phase(tree, forget_memories: set[str], phases: list[str], before: str) -> str | None:
    """The last test phase before ``before`` in which every memory of the forget concepts is
    declared ``absent`` for every subject: the network had never learned them."""
    if "lifecycle" not in tree or not forget_memories:
        return None
    state = tree["lifecycle"].to_dataset()["state"]
    names = [str(m) for m in state["memory"].values]
    rows = [i for i, m in enumerate(names) if m in forget_memories]
    order = [str(p) for p in state["phase"].values]
    found = None
    for ph in phases:
        if ph == before:
            break
        if ph in order:
            # str() per value: a store read back holds numpy's StringDType
            v = [str(x) for x in np.asarray(state.values[:, order.index(ph), rows]).ravel()]
            if v and all(x == "absent" for x in v):
                found = ph
    return found


def forget_quality_report(tree) -> xr.Dataset:
    """TOFU's pair for every test under an erasure (net edits all negative: an engram, a sham,
    task negation), when the run has a reference: a test phase before it in which every
    memory of the erased concepts was declared ``absent`` (e.g. a network trained on the
    retain split only). Per row: forget quality (the KS p of the forget concepts' values
    against the reference's; ``response`` for text, ``accuracy`` otherwise), the KS statistic
    and means, and model utility (mean over subjects; accuracy and, for text, ``response``).
    The last unedited test before the edits is a row too (the network that learned them).
    Dims ``row``; empty without a reference."""
    from engramlab.analysis._task_vector import _last_train, _net_terms
    from engramlab.analysis._unlearning import _concepts_of, _test_phases, _trial_row

    fields = ("phase", "edit", "reference", "forget_quality", "ks_statistic", "forget_mean")
    fields += ("reference_mean", "model_utility", "n", "measure")
    out: dict[str, list] = {k: [] for k in fields}
    b = _behaviour(tree)
    if isinstance(tree, xr.Dataset) or "edit_terms" not in b.coords or "engrams" not in tree:
        return xr.Dataset({k: ("row", np.asarray(v)) for k, v in out.items()})
    text = any(n.attrs.get("kind") == "text" for n in tree["world"].children.values())
    measure = "response" if text else "accuracy"
    measures = ("accuracy", "response") if text else ("accuracy",)
    tests = _test_phases(b)
    phases = [p for p, _ in tests]
    net = _net_terms(tests, _last_train(tree))
    tested = set(_trial_row(b, "concept").tolist())
    engrams = set(tree["engrams"].children)
    memories = [str(m) for m in tree["lifecycle"]["memory"].values] if "lifecycle" in tree else []
    for i, (ph, _) in enumerate(tests):
        terms = net[i]
        if not terms or any(c >= 0 for c in terms.values()):
            continue
        forget = sorted({c for n in terms for c in _concepts_of(_mem(n), tested, engrams)})
        gone = {m for m in memories if m.rsplit(":", 1)[-1] in forget}
        ref = _reference_phase(tree, gone, phases, ph)
        if not forget or ref is None:
            continue
        unedited = [p for j, p in enumerate(phases[:i]) if not net[j] and p != ref]
        rows = [(unedited[-1], "(none)")] if unedited and unedited[-1] not in out["phase"] else []
        for phase, edit in [*rows, (ph, " + ".join(terms))]:
            fq = forget_quality(b, forget, phase, ref, measure=measure)
            mu = model_utility(b, forget, phase, measures=measures)
            for k, v in (
                ("phase", phase),
                ("edit", edit),
                ("reference", ref),
                ("forget_quality", fq["p"]),
                ("ks_statistic", fq["statistic"]),
                ("forget_mean", fq["mean"]),
                ("reference_mean", fq["reference_mean"]),
                ("model_utility", float(mu.mean())),
                ("n", fq["n"]),
                ("measure", measure),
            ):
                out[k].append(v)
    return xr.Dataset(
        {k: ("row", np.asarray(v)) for k, v in out.items()},
        attrs={"forget_quality": "two-sample KS p against the reference (never learned)"},
    )


def _mem(term: str) -> str:
    return term[: term.rindex("[")] if term.endswith("]") else term


def format_forget_quality(report: xr.Dataset) -> str:
    """One line per :func:`forget_quality_report` row."""
    lines = []
    for i in range(report.sizes.get("row", 0)):
        r = {k: report[k].values[i] for k in report.data_vars}
        lines.append(
            f"  {r['phase']} ({r['edit']}): forget quality {float(r['forget_quality']):.3g} "
            f"(KS {float(r['ks_statistic']):.2f}; {r['measure']} {float(r['forget_mean']):.3f} "
            f"vs {float(r['reference_mean']):.3f} in {r['reference']}, n={int(r['n'])}); "
            f"model utility {float(r['model_utility']):.3f}"
        )
    return "\n".join(lines)
