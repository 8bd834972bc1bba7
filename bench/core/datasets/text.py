"""Text classification data (2 classes) as fixed-length token-id sequences, shared by the LSTM and
the transformer workloads.

Layout: `x` int32 (N, SEQ_LEN) token ids, `y` int64 (0 negative, 1 positive). Id PAD_ID (0) is
padding and OOV_ID (1) an unknown word; words have ids 2 .. VOCAB_SIZE - 1. Every sequence is
*pre*-padded (padding at the start) and, when too long, truncated at the start (the end of a
review is kept), so that the last position always holds a real token: the LSTM classifies from
its last hidden state without masking, and the transformer masks the padding.

Default (no data folder): a synthetic sentiment corpus generated from the seed, 20000 training and
2000 test sentences of 6..16 words, balanced. Cue words carry polarity (+1 / -1); an intensifier
right before a cue doubles it; a negator ("not", "never") flips the next cue if only intensifiers
stand between them ("not very good" = -2), and modifies nothing when filler follows it ("not the
plot"). The label is the sign of the summed score (zero-score sentences are redrawn). Word counts
cannot tell which cue a negator belongs to: logistic regression on them reaches ~0.75, the rule
itself 1.0, and the order-aware models ~0.95 (tests/test_datasets_text.py). The corpus is large
because the transformer needs it: on 3000 sentences it memorises them and stays near the bag-of-words
level (seen 0.72-0.78 test accuracy), while the LSTM learns the rule from 3000 too.

Real data: IMDB (Maas et al. 2011) in its aclImdb folder layout under the data folder
(`data_dir/aclImdb/{train,test}/{pos,neg}/*.txt`, or `data_dir` itself being aclImdb). One
tokenizer for both splits, in plain Python: lowercase, "<br />" removed, split on non-letters;
the vocabulary is the VOCAB_SIZE - 2 most frequent training words (ties alphabetical). SEQ_LEN is
sized for the synthetic corpus and the CPU budget: of an IMDB review the models see the last 16
words, so IMDB here checks the real-data path rather than benchmarking IMDB accuracy.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from bench.core.data import Dataset
from bench.core.errors import UsageError

SEQ_LEN = 16  # tokens per sequence, after pre-padding / pre-truncation
VOCAB_SIZE = 1000  # embedding rows: PAD, OOV and 998 words
PAD_ID = 0
OOV_ID = 1

# --- the synthetic corpus -------------------------------------------------------------------
POSITIVE = ("good", "great", "excellent", "wonderful", "brilliant", "enjoyable", "superb", "delightful", "moving",
            "charming", "love", "fun")  # fmt: skip
NEGATIVE = ("bad", "awful", "terrible", "boring", "dull", "poor", "weak", "horrible", "tedious", "mediocre", "hate",
            "mess")  # fmt: skip
NEGATORS = ("not", "never")
INTENSIFIERS = ("very", "really", "extremely", "truly")
FILLER = ("the", "a", "an", "movie", "film", "plot", "story", "actors", "acting", "cast", "director", "script",
          "scenes", "music", "ending", "characters", "it", "this", "was", "is", "and", "but", "with", "of", "in",
          "to", "had", "were", "seemed", "felt", "i", "we", "they", "its", "dialogue", "camera", "score", "pace",
          "series", "sequel", "runtime", "audience", "theater", "screen", "hero", "villain")  # fmt: skip
SYNTHETIC_WORDS = (*POSITIVE, *NEGATIVE, *NEGATORS, *INTENSIFIERS, *FILLER)
SYNTHETIC_VOCAB: Mapping[str, int] = {w: i + 2 for i, w in enumerate(SYNTHETIC_WORDS)}
POLARITY: Mapping[str, int] = {**{w: 1 for w in POSITIVE}, **{w: -1 for w in NEGATIVE}}

SYNTHETIC_TRAIN = 20000
SYNTHETIC_TEST = 2000
MIN_WORDS = 6  # synthetic sentence length range (the rest is padding)
MAX_CUES = 3  # cue phrases per synthetic sentence: 1..MAX_CUES
P_NEGATE = 0.2  # a cue phrase starts with a negator
P_INTENSIFY = 0.25  # a cue phrase has an intensifier before its cue word
P_DISTRACTOR = 0.1  # a filler word follows a negator or intensifier that so modifies nothing


def sentiment_score(words: Iterable[str]) -> int:
    """The corpus' rule (the oracle): summed polarity, intensifier x2, negator flips the next cue."""
    score, sign, boost = 0, 1, 1
    for w in words:
        if w in NEGATORS:
            sign = -1
        elif w in INTENSIFIERS:
            boost = 2
        else:
            score += POLARITY.get(w, 0) * sign * boost
            sign, boost = 1, 1  # a cue uses the modifiers up; filler cancels them
    return score


class Uniforms:
    """Uniform [0, 1) draws from a seeded numpy Generator, fetched in blocks (one numpy call per 4096 draws)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.block: list[float] = []
        self.next = 0

    def __call__(self) -> float:
        if self.next == len(self.block):
            self.block, self.next = self.rng.random(4096).tolist(), 0
        self.next += 1
        return self.block[self.next - 1]

    def below(self, n: int) -> int:
        return int(self() * n)

    def pick(self, words: Sequence[str]) -> str:
        return words[self.below(len(words))]


def _sentence(u: Uniforms) -> list[str]:
    """Filler and 1..MAX_CUES cue phrases at random places, MIN_WORDS..SEQ_LEN words."""
    words: list[str] = []
    length = MIN_WORDS + u.below(SEQ_LEN - MIN_WORDS + 1)
    starts = sorted(u.below(length - 3) for _ in range(1 + u.below(MAX_CUES)))  # where cue phrases begin
    for start in [*starts, length]:
        while len(words) < start:  # filler, sometimes after a modifier that so modifies nothing
            if len(words) < start - 1 and u() < P_DISTRACTOR:
                words.append(u.pick(NEGATORS + INTENSIFIERS))
            words.append(u.pick(FILLER))
        if start == length:
            break
        if u() < P_NEGATE:
            words.append(u.pick(NEGATORS))
        if u() < P_INTENSIFY:
            words.append(u.pick(INTENSIFIERS))
        words.append(u.pick(POSITIVE if u() < 0.5 else NEGATIVE))
    return words[:SEQ_LEN]


def synthetic_corpus(n: int, u: Uniforms) -> tuple[list[list[str]], np.ndarray]:
    """`n` sentences (n // 2 per class, in generation order) and their labels; zero-score sentences are redrawn."""
    per_class = {0: n // 2, 1: n - n // 2}
    sentences: list[list[str]] = []
    labels: list[int] = []
    while any(per_class.values()):
        words = _sentence(u)
        score = sentiment_score(words)
        label = int(score > 0)
        if score == 0 or per_class[label] == 0:
            continue
        per_class[label] -= 1
        sentences.append(words)
        labels.append(label)
    return sentences, np.asarray(labels, dtype=np.int64)


def load_synthetic(seed: int) -> Dataset:
    u = Uniforms(np.random.default_rng([seed, 0x7E47]))
    train, y_train = synthetic_corpus(SYNTHETIC_TRAIN, u)
    test, y_test = synthetic_corpus(SYNTHETIC_TEST, u)
    return Dataset(
        "text",
        encode(train, SYNTHETIC_VOCAB),
        y_train,
        encode(test, SYNTHETIC_VOCAB),
        y_test,
        2,
        f"synthetic sentiment corpus (seed {seed})",
        _info(len(SYNTHETIC_VOCAB) + 2),
    )


# --- shared tokenizer / encoder ---------------------------------------------------------------
TOKEN = re.compile(r"[a-z]+")


def tokenize(text: str) -> list[str]:
    """Lowercase, drop "<br />" line breaks, split on anything that is not a letter a-z."""
    return TOKEN.findall(text.lower().replace("<br />", " "))


def build_vocabulary(documents: Iterable[Sequence[str]], size: int = VOCAB_SIZE) -> dict[str, int]:
    """The size - 2 most frequent words (ties alphabetical) -> ids 2.. in that order."""
    counts = Counter(w for doc in documents for w in doc)
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: size - 2]
    return {w: i + 2 for i, (w, _) in enumerate(top)}


def encode(documents: Sequence[Sequence[str]], vocab: Mapping[str, int]) -> np.ndarray:
    """Token ids (OOV_ID for unknown words), pre-truncated to the last SEQ_LEN and pre-padded."""
    seq_len = SEQ_LEN
    out = np.full((len(documents), seq_len), PAD_ID, dtype=np.int32)
    for i, doc in enumerate(documents):
        ids = [vocab.get(w, OOV_ID) for w in doc][-seq_len:]
        if ids:
            out[i, seq_len - len(ids) :] = ids
    return out


def _info(vocab_used: int) -> dict[str, object]:
    return {"seq_len": SEQ_LEN, "vocab_size": VOCAB_SIZE, "vocab_used": vocab_used, "padding": "pre",
            "truncating": "pre", "pad_id": PAD_ID, "oov_id": OOV_ID}  # fmt: skip


# --- IMDB (aclImdb) ---------------------------------------------------------------------------
IMDB_LABELS = (("neg", 0), ("pos", 1))


def found(data_dir: Path) -> bool:
    """Whether `data_dir` holds the aclImdb folder (or is one)."""
    return imdb_root(data_dir).is_dir()


def imdb_root(data_dir: Path) -> Path:
    """data_dir/aclImdb if present, else data_dir itself when it has the aclImdb layout."""
    nested = data_dir / "aclImdb"
    if nested.is_dir() or not (data_dir / "train").is_dir():
        return nested
    return data_dir


def read_imdb_split(root: Path, split: str) -> tuple[list[list[str]], np.ndarray]:
    """Tokenized reviews of one split (neg then pos, files in name order) and their labels."""
    docs: list[list[str]] = []
    labels: list[int] = []
    for name, label in IMDB_LABELS:
        folder = root / split / name
        files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
        if not files:
            raise UsageError(f"{folder}: no *.txt reviews (expected aclImdb/{{train,test}}/{{pos,neg}}/*.txt)")
        for f in files:
            try:
                docs.append(tokenize(f.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as e:
                raise UsageError(f"{f}: not a readable UTF-8 review ({e.__class__.__name__})") from e
            labels.append(label)
    return docs, np.asarray(labels, dtype=np.int64)


def load_imdb(data_dir: Path) -> Dataset:
    root = imdb_root(data_dir)
    if not root.is_dir():
        raise UsageError(f"{root}: missing (the text workloads read IMDB from <data-dir>/aclImdb)")
    train, y_train = read_imdb_split(root, "train")
    test, y_test = read_imdb_split(root, "test")
    vocab = build_vocabulary(train)
    return Dataset(
        "text",
        encode(train, vocab),
        y_train,
        encode(test, vocab),
        y_test,
        2,
        f"IMDB aclImdb ({root})",
        _info(len(vocab) + 2),
    )


def load_text(seed: int, data_dir: Path | None = None) -> Dataset:
    """The synthetic corpus from `seed`, or IMDB when a data folder is given (the seed is then unused)."""
    return load_synthetic(seed) if data_dir is None else load_imdb(data_dir)
