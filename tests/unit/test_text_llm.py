"""Text on hf subjects: the bundled fictitious-author set and its tokenizer, answer-token
training and exact-match evaluation, answer-only vs all-token statistics, and the errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers", reason="needs the hf extra (transformers)")

from engramlab.errors import RunError  # noqa: E402
from engramlab.protocol import load_protocol  # noqa: E402
from engramlab.world._datasets import load_dataset  # noqa: E402

TINY = (
    "{model_type: llama, num_hidden_layers: 1, hidden_size: 32, intermediate_size: 64, "
    "num_attention_heads: 4, vocab_size: 160, tie_word_embeddings: true, bos_token_id: 2, "
    "eos_token_id: 2, pad_token_id: 0}"
)
PROTO = """\
engramlab: 1
name: tiny-authors
subject:
  {subject}
world:
  authors: {{kind: dataset, name: authors, authors: 10}}
groups:
  a: {{n: 1}}
schedule:
  - {{phase: learn, op: train, data: authors, epochs: 150, lr: 0.01, batch_size: 20, memory: au}}
  - {{phase: base, op: test, data: authors}}
  - {{phase: est, op: estimate, estimator: closed-form, memories: ["au:a0", "au:a1"]{tokens}}}
  - {{phase: forget, op: erase, memory: ["au:a0", "au:a1"]}}
  - {{phase: after, op: test, data: authors}}
"""


def _run(subject: str = f"hf: {{config: {TINY}}}", tokens: str = ", tokens: all"):
    from engramlab import run_protocol

    text = PROTO.format(subject=subject, tokens=tokens)
    return run_protocol(load_protocol(text, file="t.yaml"), write=False).tree


def test_author_set_has_multi_token_answers_and_answer_labels():
    ds = load_dataset("authors", {"kind": "dataset", "name": "authors", "authors": 6})
    assert ds.kind == "text" and ds.concepts == tuple(f"a{i}" for i in range(6))
    assert len(ds.x_train) == 30 and np.bincount(ds.c_train).tolist() == [5] * 6
    answer_len = (ds.y_train != -100).sum(1)
    assert answer_len.min() >= 1 and answer_len.max() >= 3  # multi-token answers
    for i in range(len(ds.x_train)):  # labels are exactly the answer tokens, after the prompt
        lab = ds.y_train[i] != -100
        np.testing.assert_array_equal(ds.y_train[i][lab], ds.x_train[i][lab])
        assert not lab[:3].any()
    from engramlab.world._text import author_tokenizer

    tok = author_tokenizer()
    a0 = tok.decode(ds.x_train[0][ds.y_train[0] != -100])
    assert a0 == ds.extra["answers"][0]
    assert len(tok) == ds.vocab


def test_erasing_two_authors_on_a_tiny_llama():
    tree = _run()
    b = tree["behaviour"].to_dataset()
    acc, ph, c = b["accuracy"].values[0], b["phase"].values, b["concept"].values
    base, after = acc[ph == "base"], acc[ph == "after"]
    assert base.min() >= 0.8  # the facts were learned
    assert after[:2].mean() <= 0.3 and after[2:].mean() >= base[2:].mean() - 0.05
    assert list(c[ph == "after"]) == [f"a{i}" for i in range(10)]
    assert "authors-all-tokens" in tree["statistics"].children
    assert "question" in tree["world/authors"].to_dataset()


def test_text_errors_are_one_line():
    mlp = "mlp: {layers: [14, 8, 4]}"
    with pytest.raises(RunError, match="is text: it needs an hf subject"):
        _run(subject=mlp)
    small = TINY.replace("vocab_size: 160", "vocab_size: 50")
    with pytest.raises(RunError, match=r"set vocab_size: \d+ \(or more\)"):
        _run(subject=f"hf: {{config: {small}}}")


def test_hf_config_errors_are_located_one_line_messages():
    from engramlab.protocol import validate_text

    text = PROTO.format(subject=f"hf: {{config: {TINY}}}", tokens="")
    assert validate_text(text) == []
    bad = [str(i) for i in validate_text(text.replace("model_type: llama", "model_type: lama"))]
    assert len(bad) == 1 and "unknown model_type 'lama'; did you mean 'llama'?" in bad[0]
    odd = [str(i) for i in validate_text(text.replace("hidden_size: 32", "hidden_size: 30"))]
    assert len(odd) == 1 and "not a multiple of the number of attention heads" in odd[0]
    both = text.replace("hf: {config:", 'hf: {path: "x", config:')
    assert any("exactly one of 'path'" in str(i) for i in validate_text(both))
