"""Synthetic token streams with learnable structure for the decoder workloads (datasets "lm-markov" and
"lm-markov-49k"; bench/core/workloads.py llama-tiny and llama-smollm-base). Generated from the seed, named
synthetic in every record: nothing here is text.

The language is a sparse second-order Markov chain over `vocab` ids, fixed for every seed (as a language's
grammar is; drawn from GRAMMAR_SEED): the next id depends on the last id and on the one before it modulo
CONTEXTS (so a model must attend two positions back, not only read the current token); each of those
vocab * CONTEXTS states has SUCCESSORS possible next ids drawn at random, taken with the probabilities
SUCCESSOR_P. A sequence starts from uniformly drawn ids and follows the chain for seq_len + 1 ids; `x`
holds the first seq_len, `y` the next id at each position (the causal-LM target). int32 / int64,
shape (N, seq_len), no padding.

What a model can reach (`oracle`): the best next-token accuracy is SUCCESSOR_P's largest (0.7) at every
position but the first (whose id two back is not in `x`); the best perplexity is about exp of
SUCCESSOR_P's entropy (2.49), against `vocab` for a model that learned nothing. A model that reads only
the current id (a bigram) mixes CONTEXTS successor sets and stays near 0.7 / CONTEXTS in accuracy.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from bench.core.data import Dataset

SUCCESSOR_P = (0.7, 0.15, 0.1, 0.05)  # the probabilities of an id's SUCCESSORS next ids, most likely first
SUCCESSORS = len(SUCCESSOR_P)
CONTEXTS = 4  # the id two back matters through its residue modulo CONTEXTS: a second-order chain
GRAMMAR_SEED = 0x11A3A  # the chain: the same for every seed
STREAM = 0x5EC5  # this dataset's random stream, beside the seed


def successors(vocab: int) -> np.ndarray:
    """(vocab * CONTEXTS, SUCCESSORS) int64: the possible next ids of each state (the last id, and the one
    before it modulo CONTEXTS: state = last * CONTEXTS + before % CONTEXTS), most likely first, distinct per row."""
    rng = np.random.default_rng([GRAMMAR_SEED, vocab])
    out = rng.integers(0, vocab, (vocab * CONTEXTS, SUCCESSORS))
    while True:
        s = np.sort(out, axis=1)
        bad = np.flatnonzero((s[:, 1:] == s[:, :-1]).any(axis=1))
        if not len(bad):
            return out.astype(np.int64)
        out[bad] = rng.integers(0, vocab, (len(bad), SUCCESSORS))


def oracle() -> dict[str, float]:
    """The best next-token accuracy and perplexity any model can reach on this chain."""
    p = np.asarray(SUCCESSOR_P)
    return {"next_token_accuracy": float(p.max()), "perplexity": float(math.exp(-(p * np.log(p)).sum()))}


def sequences(n: int, seq_len: int, table: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, seq_len + 1) int64 walks of the chain from uniformly drawn starts."""
    out = np.empty((n, seq_len + 1), dtype=np.int64)
    vocab = len(table) // CONTEXTS
    before = rng.integers(0, vocab, n)  # the id before the first (not in the sequence)
    out[:, 0] = rng.integers(0, vocab, n)
    for t in range(seq_len):
        state = out[:, t] * CONTEXTS + (out[:, t - 1] if t else before) % CONTEXTS
        out[:, t + 1] = table[state, rng.choice(SUCCESSORS, size=n, p=SUCCESSOR_P)]
    return out


def markov(name: str, seed: int, vocab: int, seq_len: int, n_train: int, n_test: int) -> Dataset:
    table = successors(vocab)
    rng = np.random.default_rng([seed, STREAM])
    train, test = sequences(n_train, seq_len, table, rng), sequences(n_test, seq_len, table, rng)
    info = {
        "seq_len": seq_len,
        "vocab_size": vocab,
        "tokens_train": n_train * seq_len,
        "generator": f"a second-order Markov chain over {vocab} ids (state: the last id and the one before it "
        f"modulo {CONTEXTS}), {SUCCESSORS} successors a state with probabilities {list(SUCCESSOR_P)}; y is x "
        "shifted by one (the next id)",
        "oracle": oracle(),
    }
    return Dataset(
        name,
        train[:, :-1].astype(np.int32),
        train[:, 1:],
        test[:, :-1].astype(np.int32),
        test[:, 1:],
        vocab,
        f"synthetic Markov-chain token stream (seed {seed})",
        info,
    )


def load_lm_markov(seed: int, data_dir: Path | None = None) -> Dataset:
    """llama-tiny's: 512 ids, 64 tokens a sequence, 2048 training and 256 test sequences."""
    return markov("lm-markov", seed, vocab=512, seq_len=64, n_train=2048, n_test=256)


def load_lm_markov_49k(seed: int, data_dir: Path | None = None) -> Dataset:
    """The base size's: SmolLM's 49152 ids, 128 tokens a sequence, 256 training and 32 test sequences
    (a step budget, not a training run)."""
    return markov("lm-markov-49k", seed, vocab=49152, seq_len=128, n_train=256, n_test=32)
