"""TOFU-style forget quality (KS p against a never-trained reference) and model utility
(harmonic mean of retain-split measures)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from engramlab.analysis import forget_quality, model_utility


def behaviour(forget_by_phase: dict[str, tuple[float, float]], groups: list[str]) -> xr.Dataset:
    """Concepts f0, f1 (forget) and r0, r1 (retain); per phase the forget and retain
    response levels, with per-subject noise."""
    rng = np.random.default_rng(0)
    n = len(groups)
    phases, concepts, resp = [], [], []
    for ph, (f, r) in forget_by_phase.items():
        for c, level in (("f0", f), ("f1", f), ("r0", r), ("r1", r)):
            phases.append(ph)
            concepts.append(c)
            resp.append(np.clip(level + 0.02 * rng.standard_normal(n), 0, 1))
    resp = np.stack(resp, axis=1)
    return xr.Dataset(
        {"response": (("subject", "trial"), resp), "accuracy": (("subject", "trial"), resp > 0.5)},
        coords={
            "phase": ("trial", phases),
            "concept": ("trial", concepts),
            "group": ("subject", groups),
            "subject": np.arange(n),
        },
    )


GROUPS = ["edit"] * 8 + ["retain-only"] * 8


def test_forgotten_split_is_indistinguishable_from_never_learned():
    b = behaviour({"base": (0.9, 0.9), "erased": (0.1, 0.88), "half": (0.5, 0.9)}, GROUPS)
    # the retain-only group's "erased" phase plays the model that never learned f0, f1 (0.1)
    ref = {"reference_phase": "erased", "reference_group": "retain-only"}
    good = forget_quality(
        b, ["f0", "f1"], "erased", "erased", group="edit", reference_group="retain-only"
    )
    assert good["p"] > 0.05 and good["n"] == good["n_reference"] == 16
    bad = forget_quality(
        b, ["f0", "f1"], "half", "erased", group="edit", reference_group="retain-only"
    )
    assert bad["p"] < 1e-4 and bad["statistic"] == 1.0
    assert bad["mean"] == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError, match="no test trials in phase 'nope'"):
        forget_quality(b, ["f0"], "nope", **ref)
    with pytest.raises(ValueError, match="no /behaviour variable 'loss'"):
        forget_quality(b, ["f0"], "erased", measure="loss", **ref)


def test_model_utility_is_the_harmonic_mean_and_collapses_with_one_measure():
    b = behaviour({"base": (0.9, 0.9), "wrecked": (0.1, 0.3)}, GROUPS)
    u = model_utility(b, ["f0", "f1"], "base", group="edit")
    assert u.sizes["subject"] == 8
    np.testing.assert_allclose(u.values, 2 / (1 / 1.0 + 1 / 0.9), atol=0.02)
    wrecked = model_utility(b, ["f0", "f1"], "wrecked", group="edit")
    assert (wrecked.values == 0).all()  # accuracy 0 on the retain split: utility 0
