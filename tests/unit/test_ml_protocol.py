"""ML protocols: validation (datasets, concepts, ``M:<concept>`` memories), the life-cycle walk,
determinism, Δμ every N steps, and the transformer and hf subjects."""

from __future__ import annotations

import numpy as np
import pytest

from engramlab.protocol import load_protocol, validate_text

BASE = """\
engramlab: 1
name: tiny-ml
seed: 5
subject:
  mlp: {layers: [64, 16, 10], bias: true}
world:
  digits: {kind: dataset, name: digits}
  box: {kind: context}
groups:
  a: {n: 2}
schedule:
  - {phase: learn, op: train, data: digits, concepts: [1, 2, 3], epochs: 2, lr: 0.01, memory: d}
  - {phase: base, op: test, data: digits, memory: d}
  - {phase: est, op: estimate, estimator: closed-form, memories: [d]}
  - {phase: forget-2, op: erase, memory: "d:2"}
  - {phase: after, op: test, data: digits}
record:
  activity: [layers.0]
  weights: {projections: all, every: 5}
"""


def issues(text: str) -> list[str]:
    return [f"{i.line}:{i.col}: {i.message}" for i in validate_text(text, "p.yaml")]


def test_valid_ml_protocol_and_memory_families():
    lp = load_protocol(BASE, file="p.yaml")
    lc = lp.lifecycle["a"]
    assert lc.memories == ("d:1", "d:2", "d:3")
    assert lc.states[1] == {"d:1": "labile", "d:2": "labile", "d:3": "labile"}
    assert lc.states[3]["d:2"] == "forgotten" and lc.states[3]["d:1"] == "labile"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "data: digits, concepts: [1, 2, 3]",
            "data: box, concepts: [1, 2, 3]",
            "'data' must name a dataset or facts stimulus, but 'box' is of kind context",
        ),
        ("concepts: [1, 2, 3]", "concepts: [1, 2, 12]", "unknown concept 12 of 'digits'"),
        (
            'memory: "d:2"',
            'memory: "d:7"',
            "memory 'd:7' is erased in phase 'forget-2' but never formed",
        ),
        (
            "memories: [d]",
            "memories: [e]",
            "memory 'e' is estimated in phase 'est' but never formed",
        ),
        (
            "mlp: {layers: [64, 16, 10], bias: true}",
            "mlp: {layers: [64, 16, 10], bias: maybe}",
            "bias",
        ),
        ("op: erase", "op: expose", "op 'expose' is not available for mlp subjects"),
        (
            "estimator: closed-form, memories: [d]",
            "estimator: closed-form, like: graft, memories: [d]",
            "like: 'graft' names the engram a sham copies in norm; estimator 'closed-form' is "
            "not a sham",
        ),
        (
            "estimator: closed-form, memories: [d]",
            "estimator: sham, like: graft2, memories: [d]",
            "a sham cannot copy estimator 'graft2'; did you mean 'graft'?",
        ),
        (
            "estimator: closed-form, memories: [d]",
            "estimator: sham, like: sham, memories: [d]",
            "a sham cannot copy estimator 'sham'",
        ),
        (
            "{phase: after, op: test, data: digits}",
            "{phase: after, op: test, stimulus: box}",
            "'stimulus' must name a dataset or facts stimulus, but 'box' is of kind context",
        ),
    ],
)
def test_ml_validation_errors(old, new, message):
    assert BASE.count(old) == 1
    found = issues(BASE.replace(old, new))
    assert any(message in f for f in found), found


def test_ml_run_is_deterministic_and_records_every_n_steps():
    from engramlab import run_protocol

    a = run_protocol(load_protocol(BASE, file="p.yaml"), write=False).tree
    b = run_protocol(load_protocol(BASE, file="p.yaml"), write=False).tree
    for node in (
        "behaviour",
        "weights/layers.0",
        "engrams/d:2/layers.1",
        "statistics/digits/layers.0",
    ):
        for name, var in a[node].dataset.data_vars.items():
            np.testing.assert_array_equal(var.values, b[node].dataset[name].values, err_msg=node)
    phases = list(a["weights"]["phase"].values)
    # 3 classes × ~144 images / 32 per batch = 14 steps × 2 epochs: a checkpoint every 5
    # steps and one at the end of the train phase; then one after the erasure
    assert phases == ["learn"] * (28 // 5 + 1) + ["forget-2"]
    assert a["weights/layers.0"]["delta_bias"].dims == ("subject", "checkpoint", "post")
    rate = a["activity/layers.0"]["rate"]
    assert rate.dims == ("subject", "trial", "unit") and rate.shape == (2, 20, 16)
    assert np.isfinite(rate.values).all() and (rate.values >= 0).all()  # ReLU units
    ed = a["edits"]
    assert ed["memory"].values.tolist() == [["d:2"], ["d:2"]]
    np.testing.assert_array_equal(ed["coefficient"].values, -1.0)
    acc = a["behaviour"]["accuracy"]
    assert acc.sizes["trial"] == 20  # a test without concepts tests all ten classes
    assert a["behaviour"]["concept"].values.tolist() == [str(c) for c in range(10)] * 2
    forgotten = acc.where(a["behaviour"]["phase"] == "after", drop=True).values[:, 2]
    known = acc.where(a["behaviour"]["phase"] == "base", drop=True).values[:, 2]
    assert (forgotten < 0.5 * known).all()  # a small, briefly trained net: a large drop


def test_transformer_spec_errors_are_located():
    text = BASE.replace(
        "mlp: {layers: [64, 16, 10], bias: true}", "transformer: {layers: 2, d_model: 30, heads: 4}"
    )
    assert any("not divisible" in f for f in issues(text))


def test_hf_subject_on_a_tiny_local_gpt2(tmp_path):
    transformers = pytest.importorskip("transformers")
    import torch

    from engramlab.subjects._hf import load_hf_subject

    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=50, n_positions=8)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path)
    sub = load_hf_subject({"path": str(tmp_path)}, seed=0)
    assert "transformer.h.0" in sub.sites and "transformer.h.1.mlp.c_proj" in sub.projections
    tokens = torch.tensor([[1, 2, 3]])
    with sub.hooks({"transformer.h.1": lambda t, *, site: t * 0}):
        zeroed = sub.logits(tokens)
    assert not torch.allclose(zeroed, sub.logits(tokens))
    assert not sub.active_hooks()


def test_hf_protocol_runs_train_estimate_erase(tmp_path):
    transformers = pytest.importorskip("transformers")
    import torch

    from engramlab import run_protocol

    config = transformers.GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=40, n_positions=4)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path / "gpt2")
    text = f"""\
engramlab: 1
name: tiny-hf
subject:
  hf: {{path: "{tmp_path / "gpt2"}"}}
world:
  facts: {{kind: facts, subjects: 8, relations: 2, objects: 6}}
groups:
  a: {{n: 1}}
schedule:
  - {{phase: learn, op: train, data: facts, epochs: 60, lr: 0.01, batch_size: 16, memory: f}}
  - {{phase: base, op: test, data: facts}}
  - {{phase: est, op: estimate, estimator: closed-form, memories: ["f:s3"]}}
  - {{phase: forget, op: erase, memory: "f:s3"}}
  - {{phase: after, op: test, data: facts}}
"""
    tree = run_protocol(load_protocol(text, file="hf.yaml"), write=False).tree
    b = tree["behaviour"].to_dataset()
    base = b["accuracy"].where(b["phase"] == "base", drop=True).values[0]
    after = b["accuracy"].where(b["phase"] == "after", drop=True).values[0]
    assert base.mean() >= 0.9
    assert after[3] <= 0.5 and np.delete(after, 3).mean() >= 0.8
    assert "transformer.h.0.mlp.c_fc" in tree["engrams/f:s3"].children


def test_cli_run_prints_the_ml_summary(tmp_path):
    from click.testing import CliRunner

    from engramlab.cli import main

    proto = tmp_path / "tiny.yaml"
    proto.write_text(BASE)
    res = CliRunner().invoke(main, ["run", str(proto), "--out", str(tmp_path / "t.zarr")])
    assert res.exit_code == 0, res.output
    assert "accuracy per concept (mean over subjects):" in res.output
    assert "-d:2" in res.output and "erasure (alpha = 1" in res.output
    assert "d:2: necessity" in res.output
    crit = CliRunner().invoke(main, ["criteria", str(tmp_path / "t.zarr")])
    assert crit.exit_code == 0 and "memory d:2" in crit.output


FACTS = """\
engramlab: 1
name: tiny-facts
seed: 1
subject:
  transformer: {layers: 1, d_model: 16, heads: 2}
world:
  facts: {kind: facts, subjects: 4, relations: 2, objects: 4}
groups:
  t: {n: 1}
schedule:
  - {phase: learn, op: train, data: facts, concepts: all, epochs: 2, lr: 0.01, memory: f}
  - {phase: ra, op: train, data: facts, concepts: [s0], lr: 1.0e-9, tag: {ensemble: A, site: SITE, fraction: 0.5}}
  - {phase: rb, op: train, data: facts, concepts: [s1], lr: 1.0e-9, tag: {ensemble: B, site: SITE, fraction: 0.5}}
  - {phase: pair, op: coactivate, ensembles: [A, B], trials: 2, memory: A-B}
"""


def test_coactivate_writes_only_through_the_first_ensembles_tagged_units():
    from engramlab import run_protocol

    tree = run_protocol(load_protocol(FACTS.replace("SITE", "blocks.0.mlp.hidden")), write=False)
    dw = tree.tree["engrams/A-B/blocks.0.mlp.fc_out"]["engram"].values[0]
    touched = np.abs(dw).sum(axis=0) > 0  # columns: fc_out's input units, then its bias
    a = tree.tree["tags/blocks.0.mlp.hidden"]["member"].sel(ensemble="A").values[0]
    assert touched.size == a.size + 1 and not touched[-1]
    assert touched[:-1][a].any() and not touched[:-1][~a].any()  # none from untagged units


def test_coactivate_with_ensembles_tagged_elsewhere_is_a_one_line_run_error():
    from engramlab import run_protocol
    from engramlab.errors import RunError

    with pytest.raises(RunError, match="is tagged at site 'blocks.0.mlp', which is not what"):
        run_protocol(load_protocol(FACTS.replace("SITE", "blocks.0.mlp")), write=False)
