"""Closed-form engrams on tiny GPT-2 / Llama / Qwen2 / GPT-NeoX layouts against the reference
package ``ai-engram`` 0.11.0 on the same weights and data (answer tokens only), and layer
selection and shared statistics on each layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers", reason="needs the hf extra (transformers)")

from engramlab.engrams import (  # noqa: E402
    closed_form_from_statistics,
    collect_second_moments,
    select_layers,
)
from engramlab.ops._ml import weight_matrix  # noqa: E402
from engramlab.subjects._hf import HFSubject, build_lm  # noqa: E402

VOCAB = 61
SMALL = {"vocab_size": VOCAB, "tie_word_embeddings": True, "bos_token_id": 0, "eos_token_id": 0}
LAYOUTS = {
    "gpt2": (
        {"model_type": "gpt2", "n_layer": 2, "n_embd": 32, "n_head": 2, "n_positions": 32},
        ["c_attn", "c_proj", "c_fc"],
        [],
    ),
    "llama": (
        {
            "model_type": "llama",
            "num_hidden_layers": 2,
            "hidden_size": 32,
            "intermediate_size": 48,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
        },
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        [("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj")],
    ),
    "qwen2": (
        {
            "model_type": "qwen2",
            "num_hidden_layers": 2,
            "hidden_size": 32,
            "intermediate_size": 48,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
        },
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        [("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj")],
    ),
    "gpt_neox": (
        {
            "model_type": "gpt_neox",
            "num_hidden_layers": 2,
            "hidden_size": 32,
            "intermediate_size": 48,
            "num_attention_heads": 4,
        },
        ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
        [],
    ),
}


def _data(n: int = 48, prompt: int = 7, answer: int = 5, seed: int = 3):
    """Prompt + answer token rows; the first half is the forget set (concept 0)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (n, prompt + answer), generator=g)
    mask = torch.zeros(n, prompt + answer, dtype=torch.bool)
    mask[:, prompt:] = True  # answer tokens only
    concept = (torch.arange(n) >= n // 2).long()
    return ids, mask, concept


def _engramlab(lm, targets, ids, mask, concept, batch: int = 8):
    sub = HFSubject(lm)
    names = select_layers(sub.projections, targets)
    layers = {n: sub.linear(n) for n in names}
    bias = {n: layers[n].bias is not None for n in names}
    batches = [
        (ids[i : i + batch], concept[i : i + batch], mask[i : i + batch])
        for i in range(0, len(ids), batch)
    ]
    stats = collect_second_moments(sub, layers, batches, ["forget", "retain"], bias=bias)
    weights = {n: weight_matrix(sub, n) for n in names}
    return closed_form_from_statistics(weights, stats, ["forget"]), stats


def _reference(lm, targets, ids, mask, concept, batch: int = 8):
    engram = pytest.importorskip("engram", reason="ai-engram 0.11.0 is not installed")
    editor = engram.EngramEditor(lm)
    labels = torch.where(mask, ids, torch.full_like(ids, -100))

    def loader(rows):
        return [
            {"input_ids": ids[rows][i : i + batch], "labels": labels[rows][i : i + batch]}
            for i in range(0, int(rows.sum()), batch)
        ]

    kw = {
        "target_modules": targets,
        "batch_fn": lambda b: {"input_ids": b["input_ids"]},
        "mask_fn": lambda b: b["labels"] != -100,
    }
    g_forget = editor.collect_statistics(loader(concept == 0), **kw)
    g_total = editor.collect_statistics(loader(torch.ones_like(concept, dtype=torch.bool)), **kw)
    res = editor.compute_engram_weights(g_forget, g_total)
    out = {}
    for name, info in res.layers.items():
        p = info.projection.double() * (info.n / info.N)  # E = (n/N) W C+ pinv(C)
        mod = lm.get_submodule(name)
        p = p.T if type(mod).__name__ == "Conv1D" else p
        if name in res.bias:
            p = torch.cat([p, res.bias[name].double()[:, None] * (info.n / info.N)], dim=1)
        out[name] = p.numpy()
    return out


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_closed_form_matches_ai_engram(layout):
    config, targets, _ = LAYOUTS[layout]
    lm = build_lm({**config, **SMALL}, seed=0)
    ids, mask, concept = _data()
    ours, _ = _engramlab(lm, targets, ids, mask, concept)
    ref = _reference(lm, targets, ids, mask, concept)
    assert set(ref) == set(ours) and len(ours) >= 2 * len(targets)
    for name, e in ours.items():
        rel = np.linalg.norm(e - ref[name]) / np.linalg.norm(ref[name])
        assert rel < 1e-3, f"{layout} {name}: relative difference {rel:.2e}"


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layer_selection_and_shared_statistics_on_each_layout(layout):
    config, targets, shared = LAYOUTS[layout]
    lm = build_lm({**config, **SMALL}, seed=1)
    sub = HFSubject(lm)
    picked = select_layers(sub.projections, targets[-1:], layers=[1])
    assert len(picked) == 1 and ".1." in picked[0] and picked[0].endswith(targets[-1])
    assert "lm_head" not in sub.projections  # tied to the embedding: not an edit target
    ids, mask, concept = _data(n=16)
    _, stats = _engramlab(lm, targets, ids, mask, concept)
    for group in shared:
        for block in (0, 1):
            objs = {id(stats[n]) for n in stats if n.split(".")[-1] in group and f".{block}." in n}
            assert len(objs) == 1, f"{layout}: {group} of block {block} should share Σ"
    assert len({id(s) for s in stats.values()}) == len(stats) - 2 * sum(len(g) - 1 for g in shared)
    # the answer-token mask: counts are the answer tokens, prompts never enter Σ
    assert next(iter(stats.values())).counts.tolist() == [40, 40]
