"""Datasets of ML subjects: scikit-learn's bundled digits, synthetic facts and a bundled
question/answer text set about fictitious authors (:mod:`engramlab.world._text`).

Nothing downloads: ``load_digits`` ships inside scikit-learn, and facts are generated from the
stimulus' sizes with a fixed seed. The train/test split of a dataset never depends on the run
seed (it is fixed, stratified by concept), so every subject of every run sees the same images.

>>> ds = load_dataset("digits", {"kind": "dataset", "name": "digits", "test_fraction": 0.2})
>>> ds.x_train.shape[1], ds.concepts[:3], len(ds.x_test) > 300
(64, ('0', '1', '2'), True)
>>> facts = load_dataset("facts", {"kind": "facts", "subjects": 5, "relations": 2, "objects": 4})
>>> facts.x_train.shape, facts.concepts[:2]
((10, 2), ('s0', 's1'))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["MLDataset", "dataset_concepts", "load_dataset", "preprocessing"]

#: seed of every fixed split and fact table (independent of the run seed)
SPLIT_SEED = 0


@dataclass(frozen=True)
class MLDataset:
    """A labelled dataset exactly as the subject sees it.

    ``y_*`` are targets (class index for digits, object token for facts, per-token labels —
    answer tokens, −100 elsewhere — for text); ``c_*`` the concept index of each example (the
    class for digits, the subject — or relation — for facts, the author for text).
    ``concepts`` names the concepts (``"0"``…``"9"``; ``"s0"``…, then ``"r0"``…).
    """

    name: str
    kind: str
    x_train: np.ndarray
    y_train: np.ndarray
    c_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    c_test: np.ndarray
    concepts: tuple[str, ...]
    preprocessing: str
    #: for facts: number of tokens in the vocabulary and the relation concepts' example rows
    vocab: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def select(self, concepts: list[str] | None, split: str = "train") -> np.ndarray:
        """Row indices of ``split`` whose concept is one of ``concepts`` (all when None)."""
        c = self.c_train if split == "train" else self.c_test
        if concepts is None:
            return np.arange(len(c))
        mask = np.zeros(len(c), dtype=bool)
        for name in concepts:
            mask |= self.concept_mask(name, split)
        return np.flatnonzero(mask)

    def concept_mask(self, concept: str, split: str = "train") -> np.ndarray:
        """Boolean mask of the rows of ``split`` belonging to ``concept``."""
        x = self.x_train if split == "train" else self.x_test
        c = self.c_train if split == "train" else self.c_test
        if self.kind == "facts" and concept.startswith("r"):
            rel = int(concept[1:])
            return x[:, 1] == self.extra["n_subjects"] + rel
        return c == self.concepts.index(concept)

    def tensors(self, rows: np.ndarray, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` tensors of the given rows (float inputs for digits, tokens for facts)."""
        x = self.x_train if split == "train" else self.x_test
        y = self.y_train if split == "train" else self.y_test
        xt = torch.from_numpy(x[rows])
        return xt, torch.from_numpy(y[rows]).long()


def preprocessing(name: str) -> str:
    """A one-line description of the preprocessing applied to dataset ``name``."""
    if name == "digits":
        return "sklearn.datasets.load_digits pixels / 16 (float32); stratified split, seed 0"
    if name == "authors":
        return (
            "bundled fictitious-author questions and answers, word-level tokenizer trained on "
            "the bundled text; [BOS] question answer, right-padded; labels = answer tokens"
        )
    return "synthetic facts: tokens [subject, relation] -> object, objects drawn with seed 0"


def dataset_concepts(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """Concept names of a world dataset spec (for validation, without loading data).

    >>> dataset_concepts({"kind": "facts", "subjects": 2, "relations": 1})
    ('s0', 's1', 'r0')
    """
    if spec.get("kind") == "dataset" and spec.get("name") == "authors":
        return tuple(f"a{i}" for i in range(int(spec.get("authors", 20))))
    if spec.get("kind") == "dataset":
        return tuple(str(i) for i in range(10))
    n_s = int(spec.get("subjects", 50))
    n_r = int(spec.get("relations", 4))
    return tuple(f"s{i}" for i in range(n_s)) + tuple(f"r{j}" for j in range(n_r))


def _split(labels: np.ndarray, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SPLIT_SEED)
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = int(round(test_fraction * len(idx)))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _digits(name: str, test_fraction: float) -> MLDataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    tr, te = _split(y, test_fraction)
    return MLDataset(
        name=name,
        kind="dataset",
        x_train=x[tr],
        y_train=y[tr],
        c_train=y[tr],
        x_test=x[te],
        y_test=y[te],
        c_test=y[te],
        concepts=tuple(str(i) for i in range(10)),
        preprocessing=preprocessing("digits"),
        extra={"train_index": tr, "test_index": te},
    )


def _facts(name: str, n_s: int, n_r: int, n_o: int) -> MLDataset:
    """Every (subject, relation) pair has one object; the model memorises all of them, so the
    test split is the training set itself (a fact is known or not)."""
    rng = np.random.default_rng(SPLIT_SEED)
    objects = rng.integers(0, n_o, size=(n_s, n_r))
    s, r = np.meshgrid(np.arange(n_s), np.arange(n_r), indexing="ij")
    s, r = s.ravel(), r.ravel()
    # vocabulary: subjects, relations, objects
    x = np.stack([s, n_s + r], axis=1).astype(np.int64)
    y = (n_s + n_r + objects[s, r]).astype(np.int64)
    concepts = tuple(f"s{i}" for i in range(n_s)) + tuple(f"r{j}" for j in range(n_r))
    return MLDataset(
        name=name,
        kind="facts",
        x_train=x,
        y_train=y,
        c_train=s.astype(np.int64),
        x_test=x.copy(),
        y_test=y.copy(),
        c_test=s.astype(np.int64),
        concepts=concepts,
        preprocessing=preprocessing("facts"),
        vocab=n_s + n_r + n_o,
        extra={"n_subjects": n_s, "n_relations": n_r, "n_objects": n_o, "objects": objects},
    )


def _authors(name: str, n_authors: int) -> MLDataset:
    """Question/answer text: ``x`` token ids ``(N, L)``, ``y`` labels (answer tokens, −100
    elsewhere). Like facts, the test split is the training set itself (a fact is known or
    not)."""
    from engramlab.world._text import PAD_ID, author_facts, tokenize_qa, vocab_size

    rows = author_facts(n_authors)
    ids, labels = tokenize_qa(rows)
    concepts = tuple(f"a{i}" for i in range(n_authors))
    c = np.array([concepts.index(r[0]) for r in rows], dtype=np.int64)
    return MLDataset(
        name=name,
        kind="text",
        x_train=ids,
        y_train=labels,
        c_train=c,
        x_test=ids.copy(),
        y_test=labels.copy(),
        c_test=c.copy(),
        concepts=concepts,
        preprocessing=preprocessing("authors"),
        vocab=vocab_size(),
        extra={
            "questions": [r[1] for r in rows],
            "answers": [r[2] for r in rows],
            "pad_id": PAD_ID,
        },
    )


def load_dataset(name: str, spec: Any) -> MLDataset:
    """The dataset a world entry describes (a pydantic stimulus or its dict)."""
    get = spec.get if isinstance(spec, Mapping) else lambda k, d=None: getattr(spec, k, d)
    if get("kind") == "dataset" and get("name") == "authors":
        return _authors(name, int(get("authors", 20)))
    if get("kind") == "dataset":
        return _digits(name, float(get("test_fraction", 0.2)))
    if get("kind") == "facts":
        return _facts(
            name, int(get("subjects", 50)), int(get("relations", 4)), int(get("objects", 20))
        )
    raise ValueError(f"world entry {name!r} is not a dataset (kind {get('kind')!r})")
