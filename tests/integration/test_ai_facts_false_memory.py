"""Facts false memory: rank-one writes (coactivate) give one subject another's objects on a
transformer trained from scratch; the other facts are retained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tree():
    from engramlab import run_protocol

    return run_protocol(ROOT / "protocols" / "facts_false_memory.yaml", write=False).tree


def test_transformer_learned_every_fact(tree):
    b = tree["behaviour"].to_dataset()
    base = b["accuracy"].where(b["phase"] == "base", drop=True)
    assert float(base.mean()) >= 0.98


def test_edits_take_the_new_object_and_other_facts_are_retained(tree):
    success = np.concatenate(
        [tree[f"engrams/{m}"]["edit_success"].values for m in ("s0-as-s1", "s2-as-s3")]
    )
    retained = np.concatenate(
        [tree[f"engrams/{m}"]["retained"].values for m in ("s0-as-s1", "s2-as-s3")]
    )
    assert success.mean() >= 0.9
    assert retained.mean() >= 0.9
    b = tree["behaviour"].to_dataset()
    acc = b["accuracy"]
    base = acc.where(b["phase"] == "base", drop=True)
    after = acc.where(b["phase"] == "test-after", drop=True)
    concepts = list(after["concept"].values)
    others = [i for i, c in enumerate(concepts) if c not in ("s0", "s2")]
    kept = (after.values[:, others] == base.values[:, others]).mean()
    assert kept >= 0.9


def test_the_write_is_rank_one_per_fact(tree):
    e = tree["engrams/s0-as-s1/blocks.1.mlp.fc_out"]["engram"].values
    for dw in e:
        s = np.linalg.svd(dw.astype(np.float64), compute_uv=False)
        assert (s > 1e-6 * s[0]).sum() <= 4  # one rank-one write per fact of s0 (4 relations)
    assert tree["engrams/s0-as-s1"].attrs["estimator"] == "rank-one"
    assert tree["lifecycle"]["state"].sel(phase="false-memory", memory="s0-as-s1")[0] == "labile"
