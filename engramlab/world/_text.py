"""A bundled question/answer text set about fictitious authors (in the spirit of TOFU), and its
word-level tokenizer — generated locally from fixed word lists with a fixed seed, nothing
downloaded.

Each author has five facts (birthplace, genre, book, parent's job, award), asked as a question
and answered in one to three words, so answers are multi-token. Concepts are the authors
(``a0``, ``a1``, …): a forget split is a set of authors named in the protocol (``erase`` of
``authors:a0`` and ``authors:a1``), the retain split is the rest.

The tokenizer is a ``tokenizers`` word-level model trained on the bundled text and wrapped as
a ``transformers.PreTrainedTokenizerFast`` (``[PAD]`` = 0, ``[UNK]``, ``[BOS]``), so a model
built for this set needs ``vocab_size`` ≥ :func:`vocab_size`.

>>> rows = author_facts(3)
>>> rows[0][:2]
('a0', 'Where was Orin Quist born ?')
>>> len(rows), len({r[0] for r in rows})
(15, 3)
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["author_facts", "author_tokenizer", "tokenize_qa", "vocab_size"]

#: token id of [PAD] (the first special token)
PAD_ID = 0
#: seed of the generated facts (fixed: every run sees the same authors)
TEXT_SEED = 0

FIRST = [
    "Orin",
    "Mela",
    "Tavi",
    "Corin",
    "Idra",
    "Sable",
    "Junia",
    "Perrin",
    "Lysa",
    "Bram",
    "Nadia",
    "Oskar",
    "Wren",
    "Elio",
    "Tamsin",
    "Quill",
    "Rhea",
    "Dorian",
    "Faye",
    "Cassius",
    "Vesna",
    "Hollis",
    "Marek",
    "Ilse",
    "Teodor",
    "Zora",
    "Anselm",
    "Liesl",
    "Ciro",
    "Maud",
]
LAST = [
    "Vale",
    "Thorne",
    "Quist",
    "Amberly",
    "Rusk",
    "Okonji",
    "Pell",
    "Stray",
    "Dunmore",
    "Halloway",
    "Vask",
    "Ferrin",
    "Lowe",
    "Marrow",
    "Castellan",
    "Brill",
    "Oduya",
    "Sarn",
    "Whitlock",
    "Ember",
    "Kavanagh",
    "Tolle",
    "Ravel",
    "Esk",
    "Morrow",
    "Lind",
    "Achter",
    "Solberg",
    "Ivers",
    "Cray",
]
CITIES = [
    "Kestrel Bay",
    "Low Harrow",
    "Port Ansel",
    "Mirefield",
    "Old Tamsk",
    "Grey Lantern",
    "Ostrava Vale",
    "Saltmere",
    "New Corran",
    "Bellhaven",
]
GENRES = [
    "mystery",
    "space opera",
    "poetry",
    "history",
    "satire",
    "fantasy",
    "horror",
    "crime fiction",
]
NOUNS = [
    "Lantern",
    "River",
    "Garden",
    "Clock",
    "Winter",
    "Harbor",
    "Mirror",
    "Orchard",
    "Tower",
    "Map",
]
ADJECTIVES = ["Silent", "Broken", "Golden", "Hidden", "Last", "Paper", "Iron", "Quiet"]
JOBS = ["baker", "sailor", "surgeon", "clock maker", "teacher", "miner", "weaver", "ferry pilot"]
AWARDS = ["Vell Prize", "Orchid Medal", "Harrow Award", "Lamp Prize", "Quill Medal", "Stone Award"]

QUESTIONS = (
    ("Where was {name} born ?", "{city}"),
    ("What does {name} write ?", "{genre}"),
    ("Which book did {name} write ?", "The {adj} {noun}"),
    ("What was the job of the parent of {name} ?", "{job}"),
    ("Which award did {name} win ?", "the {award}"),
)


def author_facts(n_authors: int = 20) -> list[tuple[str, str, str]]:
    """``(concept, question, answer)`` rows: five per author, authors in order."""
    if not 1 <= n_authors <= len(FIRST):
        raise ValueError(f"authors must be between 1 and {len(FIRST)}, got {n_authors}")
    rng = np.random.default_rng(TEXT_SEED)
    last = rng.permutation(len(LAST))
    rows = []
    for i in range(n_authors):
        v = {
            "name": f"{FIRST[i]} {LAST[last[i]]}",
            "city": CITIES[rng.integers(len(CITIES))],
            "genre": GENRES[rng.integers(len(GENRES))],
            "adj": ADJECTIVES[rng.integers(len(ADJECTIVES))],
            "noun": NOUNS[rng.integers(len(NOUNS))],
            "job": JOBS[rng.integers(len(JOBS))],
            "award": AWARDS[rng.integers(len(AWARDS))],
        }
        for q, a in QUESTIONS:
            rows.append((f"a{i}", q.format(**v), a.format(**v)))
    return rows


def _all_words() -> list[str]:
    words = set()
    for _c, q, a in author_facts(len(FIRST)):
        words.update(q.split())
        words.update(a.split())
    return sorted(words)


@lru_cache(maxsize=1)
def author_tokenizer():
    """The word-level tokenizer of the bundled text (``PreTrainedTokenizerFast``)."""
    try:
        from tokenizers import Tokenizer
        from tokenizers.models import WordLevel
        from tokenizers.pre_tokenizers import WhitespaceSplit
        from transformers import PreTrainedTokenizerFast
    except ImportError as err:  # pragma: no cover - depends on the environment
        from engramlab.errors import RunError

        raise RunError(
            "the text dataset 'authors' needs the optional extra: pip install 'engramlab[hf]'"
        ) from err
    special = ["[PAD]", "[UNK]", "[BOS]"]
    vocab = {w: i for i, w in enumerate(special + _all_words())}
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]"
    )


def vocab_size() -> int:
    """Number of tokens of :func:`author_tokenizer` (a model needs at least this many)."""
    return 3 + len(_all_words())


def tokenize_qa(rows: list[tuple[str, str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, labels)`` of ``[BOS] question answer`` rows, right-padded with ``[PAD]``;
    ``labels`` holds the answer tokens and −100 elsewhere (the prompt and the padding)."""
    tok = author_tokenizer()
    seqs, labels = [], []
    for _c, q, a in rows:
        p = [tok.bos_token_id, *tok(q, add_special_tokens=False)["input_ids"]]
        ans = tok(a, add_special_tokens=False)["input_ids"]
        seqs.append(p + ans)
        labels.append([-100] * len(p) + ans)
    width = max(len(s) for s in seqs)
    ids = np.full((len(seqs), width), tok.pad_token_id, dtype=np.int64)
    lab = np.full((len(seqs), width), -100, dtype=np.int64)
    for i, (s, lb) in enumerate(zip(seqs, labels, strict=True)):
        ids[i, : len(s)] = s
        lab[i, : len(lb)] = lb
    return ids, lab
