"""Synthetic token sequences of BERT-base's input shape (dataset "text-bert"), for the base-size text
workloads (bert-base-text, lstm-base-text in bench/core/workloads.py). Their job is throughput on a step
budget, so the data is generated from the seed with the right shape and vocabulary, as the standard
throughput benchmarks feed synthetic token ids; its labels are learnable, so that accuracy still
tells a model that trains from one that does not (0.5).

Layout as bench/core/datasets/text.py: `x` int32 (N, SEQ_LEN) token ids, pre-padded with PAD_ID (the last
position always holds a token), `y` int64 (0 negative, 1 positive). VOCAB_SIZE is BERT's (uncased
WordPiece, 30522 ids); PAD_ID and OOV_ID are text.py's (OOV_ID is never drawn: every id is known).

Generation (numpy only, from `np.random.default_rng([seed, STREAM])`; the lexicon from a fixed seed):
  - the lexicon: N_CUES positive and N_CUES negative cue ids, drawn once from the vocabulary and the
    same for every seed (as a language's sentiment words are); every other id is filler, with
    Zipf(1) frequencies over a fixed random ranking of them (word-like: a few ids are common, most rare);
  - per sequence: a length in MIN_TOKENS..SEQ_LEN (the rest is padding), filler tokens, and 3, 5, 7
    or 9 cue tokens at distinct random positions among the real ones, of which a majority
    (uniformly n//2 + 1 .. n of n) has the label's polarity, the rest the other;
  - labels balanced (exactly half each, in a seeded order); train SYNTHETIC_TRAIN, test SYNTHETIC_TEST.
The label is the sign of (#positive - #negative cue tokens): the rule (`cue_score`) gets 1.0 and, as it
is linear in token counts, logistic regression on word counts ~0.95 of the test split (seed 0;
tests/test_datasets_text.py): this task tells a model that trains, not what it can reason.
There is no real-data counterpart: a data folder is not read (IMDB is dataset "text").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.core.data import Dataset
from bench.core.datasets.text import OOV_ID, PAD_ID

SEQ_LEN = 128  # BERT-base benchmark sequence length
VOCAB_SIZE = 30522  # BERT's (uncased) WordPiece vocabulary
MIN_TOKENS = 32  # real tokens per sequence: MIN_TOKENS..SEQ_LEN, pre-padded
N_CUES = 64  # cue ids per polarity
CUE_COUNTS = (3, 5, 7, 9)  # cue tokens per sequence (odd: no ties)
SYNTHETIC_TRAIN = 2048
SYNTHETIC_TEST = 512
STREAM = 0xB3E7  # this dataset's random stream, beside the seed
LEXICON_SEED = 0x1E71C0  # the lexicon and the filler ranking: the same for every seed


def lexicon() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positive cue ids, negative cue ids, filler ids in Zipf rank order), fixed."""
    rng = np.random.default_rng(LEXICON_SEED)
    words = np.arange(OOV_ID + 1, VOCAB_SIZE)
    cues = rng.choice(words, 2 * N_CUES, replace=False)
    filler = rng.permutation(np.setdiff1d(words, cues))
    return np.sort(cues[:N_CUES]), np.sort(cues[N_CUES:]), filler


POSITIVE_IDS, NEGATIVE_IDS, FILLER_IDS = lexicon()


def cue_score(row: np.ndarray) -> int:
    """The rule (the oracle): positive minus negative cue tokens."""
    return int(np.isin(row, POSITIVE_IDS).sum() - np.isin(row, NEGATIVE_IDS).sum())


def sequences(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` pre-padded sequences and their balanced labels."""
    y = rng.permutation(np.arange(n) % 2).astype(np.int64)
    lengths = rng.integers(MIN_TOKENS, SEQ_LEN + 1, n)
    zipf = 1.0 / np.arange(1, len(FILLER_IDS) + 1)
    x = FILLER_IDS[rng.choice(len(FILLER_IDS), size=(n, SEQ_LEN), p=zipf / zipf.sum())].astype(np.int32)
    counts = rng.choice(CUE_COUNTS, n)
    agree = counts // 2 + 1 + (rng.random(n) * (counts - counts // 2)).astype(np.int64)  # n//2+1 .. n
    # distinct cue positions among the real tokens: the smallest random keys, padding keyed last
    keys = rng.random((n, SEQ_LEN))
    keys[np.arange(SEQ_LEN)[None, :] < (SEQ_LEN - lengths)[:, None]] = np.inf
    positions = np.argsort(keys, axis=1)[:, : max(CUE_COUNTS)]
    picks = rng.integers(0, N_CUES, (n, max(CUE_COUNTS)))
    for i in range(n):
        own, other = (POSITIVE_IDS, NEGATIVE_IDS) if y[i] == 1 else (NEGATIVE_IDS, POSITIVE_IDS)
        c, a = counts[i], agree[i]
        x[i, positions[i, :a]] = own[picks[i, :a]]
        x[i, positions[i, a:c]] = other[picks[i, a:c]]
        x[i, : SEQ_LEN - lengths[i]] = PAD_ID
    return x, y


def load_text_bert(seed: int, data_dir: Path | None = None) -> Dataset:
    """Generated from `seed`; `data_dir` is not read (there is no real-data counterpart)."""
    rng = np.random.default_rng([seed, STREAM])
    x_train, y_train = sequences(SYNTHETIC_TRAIN, rng)
    x_test, y_test = sequences(SYNTHETIC_TEST, rng)
    info = {
        "seq_len": SEQ_LEN,
        "vocab_size": VOCAB_SIZE,
        "vocab_used": len(np.unique(x_train)),  # ids present in the training split, padding included
        "padding": "pre",
        "pad_id": PAD_ID,
        "oov_id": OOV_ID,
        "generator": f"{SEQ_LEN} ids of {VOCAB_SIZE}: Zipf filler and {CUE_COUNTS[0]}-{CUE_COUNTS[-1]} sentiment cue "
        "tokens, label = their majority polarity",
    }
    return Dataset(
        "text-bert", x_train, y_train, x_test, y_test, 2, f"synthetic BERT-shape token sequences (seed {seed})", info
    )
