"""Facts false memory: rank-one writes (coactivate) give one subject another's objects on a
transformer trained from scratch; the other facts are retained, and a random write of the same
rank and norm (the sham) does not do it. The bundled protocol runs 8 subjects (the sham
comparison, slow); the other checks use the first 3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


PROTOCOL = ROOT / "protocols" / "facts_false_memory.yaml"


@pytest.fixture(scope="module")
def tree():
    from engramlab import run_protocol
    from engramlab.protocol import load_variant

    variant = load_variant(PROTOCOL.read_text(), [("groups.transformer.n", 3)], str(PROTOCOL))
    return run_protocol(variant, write=False).tree


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


def test_the_sham_write_has_the_rank_and_norm_of_the_write_and_gives_no_false_memory(tree):
    b = tree["behaviour"].to_dataset()
    acc = b["accuracy"]
    sham = acc.where(b["phase"] == "test-sham", drop=True)
    write = acc.where(b["phase"] == "test-write", drop=True)
    concepts = list(write["concept"].values)
    s0 = concepts.index("s0")
    # s0's prompts answer s1's objects after the write (so s0's own facts are lost) ...
    assert write.values[:, s0].mean() <= 0.1
    # ... and not after the sham: s0 keeps most of its facts
    assert sham.values[:, s0].mean() >= 0.5


def test_task_vector_negation_costs_the_other_facts_the_write_keeps(tree):
    from engramlab.analysis import unlearning_summary

    s = unlearning_summary(tree, ["s0"], "base", ["test-write", "test-negated"])
    write = s["retain"].sel(condition="test-write").values
    negated = s["retain"].sel(condition="test-negated").values
    # fine-tuning on s0's facts and subtracting τ twice loses s0's facts too ...
    assert s["forget"].sel(condition="test-negated").mean() <= 0.5
    # ... but it takes the other subjects' facts with them; the write does not
    assert (write - negated).mean() >= 0.1, (write, negated)


@pytest.mark.slow
def test_write_beats_its_sham_over_8_subjects():
    from engramlab import run_protocol
    from engramlab.analysis import compare_conditions, unlearning_summary

    t = run_protocol(PROTOCOL, write=False).tree
    s = unlearning_summary(t, ["s0"], "base", ["test-write", "test-sham", "test-negated"])
    # s0's own facts: replaced by the write, kept under the sham of its rank and norm
    f = compare_conditions(s, "test-write", "test-sham", "forget")
    assert f["n"] >= 8 and f["p"] < 0.05 and f["difference"] < -0.5, f
    # and the write is the more selective edit (others kept minus s0 kept)
    sel = compare_conditions(s, "test-write", "test-sham", "selectivity")
    assert sel["p"] < 0.05 and sel["difference"] > 0.4, sel
    # against task-vector negation (fine-tune on s0, subtract τ twice): the write keeps the
    # other subjects' facts and is the more selective edit
    kept = compare_conditions(s, "test-write", "test-negated", "retain")
    assert kept["p"] < 0.05 and kept["difference"] > 0.1, kept
    sel = compare_conditions(s, "test-write", "test-negated", "selectivity")
    assert sel["p"] < 0.05 and sel["difference"] > 0.2, sel
