"""The text datasets: bench/core/datasets/text.py (the seeded synthetic sentiment corpus and the IMDB (aclImdb)
reader on a tiny tree written here in the official layout) and bench/core/datasets/tokens.py (the synthetic
BERT-shape sequences of the base-size text workloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from bench.core import data, workloads
from bench.core.datasets import text, tokens
from bench.core.errors import UsageError

WORDS = {i: w for w, i in text.SYNTHETIC_VOCAB.items()}


def words_of(row: np.ndarray) -> list[str]:
    return [WORDS[int(i)] for i in row if i != text.PAD_ID]


@pytest.fixture(scope="module")
def corpus() -> data.Dataset:
    return data.load("text", 0)


# --- synthetic ----------------------------------------------------------------------------------------


def test_synthetic_corpus_is_seeded_balanced_and_pre_padded(corpus: data.Dataset) -> None:
    ds = corpus
    assert ds.x_train.shape == (text.SYNTHETIC_TRAIN, text.SEQ_LEN) and ds.x_train.dtype == np.int32
    assert ds.x_test.shape == (text.SYNTHETIC_TEST, text.SEQ_LEN) and ds.y_test.dtype == np.int64
    assert np.bincount(ds.y_train).tolist() == [text.SYNTHETIC_TRAIN // 2] * 2
    assert np.bincount(ds.y_test).tolist() == [text.SYNTHETIC_TEST // 2] * 2
    assert np.all(ds.x_train[:, -1] != text.PAD_ID)  # the last position always holds a word
    is_pad = ds.x_train == text.PAD_ID
    assert np.all(is_pad[:, :-1] >= is_pad[:, 1:])  # padding only as a prefix
    assert ds.x_train.max() < text.VOCAB_SIZE
    again, other = data.load("text", 0), data.load("text", 1)
    assert np.array_equal(ds.x_train, again.x_train) and np.array_equal(ds.y_test, again.y_test)
    assert not np.array_equal(ds.x_train, other.x_train)


def test_workloads_match_the_datasets_shape() -> None:
    for wl in (workloads.get("lstm-sentiment"), workloads.get("transformer-text")):
        assert wl.dataset == "text"
        assert wl.model_kwargs["seq_len"] == text.SEQ_LEN
        assert wl.model_kwargs["vocab_size"] == text.VOCAB_SIZE


def test_negator_flips_the_next_cue_only() -> None:
    score = text.sentiment_score
    assert score(["the", "good", "movie"]) == 1
    assert score(["not", "good"]) == -1
    assert score(["never", "very", "bad"]) == 2  # negator, intensifier, cue
    assert score(["not", "the", "good"]) == 1  # filler in between: the negator modifies nothing
    assert score(["very", "bad", "good"]) == -1  # the intensifier is used up by the first cue
    assert score(["not", "bad", "but", "awful"]) == 0


def test_labels_follow_the_rule_and_negation_decides_many(corpus: data.Dataset) -> None:
    rows, labels = corpus.x_train[:3000], corpus.y_train[:3000]
    scores = np.array([text.sentiment_score(words_of(r)) for r in rows])
    assert np.all(scores != 0) and np.array_equal(scores > 0, labels == 1)
    without_negators = np.array(
        [text.sentiment_score([w for w in words_of(r) if w not in text.NEGATORS]) for r in rows]
    )
    flipped = np.mean((without_negators > 0) != (labels == 1))
    assert 0.1 < flipped < 0.4, flipped  # negation changes the label of a good share of the corpus


def test_bag_of_words_falls_short_of_the_targets(corpus: data.Dataset) -> None:
    """Word counts cannot tell which cue a negator belongs to: a linear model on them stays well below
    the workloads' targets, which the order-aware models reach (the rule itself scores 100%)."""

    def counts(x: np.ndarray) -> np.ndarray:
        out = np.zeros((len(x), len(text.SYNTHETIC_VOCAB) + 2))
        np.add.at(out, (np.repeat(np.arange(len(x)), x.shape[1]), x.ravel()), 1.0)
        return out[:, 2:]  # padding and OOV columns dropped

    model = LogisticRegression(max_iter=2000).fit(counts(corpus.x_train), corpus.y_train)
    bow_accuracy = model.score(counts(corpus.x_test), corpus.y_test)
    assert 0.6 < bow_accuracy < 0.8, bow_accuracy  # seen: 0.75
    targets = [workloads.get(w).target for w in ("lstm-sentiment", "transformer-text")]
    assert all(t is not None and t > bow_accuracy + 0.1 for t in targets)


# --- BERT-shape synthetic sequences (bench/core/datasets/tokens.py) ----------------------------------------


@pytest.fixture(scope="module")
def bert_shape() -> data.Dataset:
    return data.load("text-bert", 0)


def test_bert_shape_sequences_are_seeded_balanced_and_pre_padded(bert_shape: data.Dataset) -> None:
    ds = bert_shape
    assert ds.name == "text-bert" and ds.num_classes == 2 and ds.describe()["synthetic"]
    assert ds.x_train.shape == (tokens.SYNTHETIC_TRAIN, 128) and ds.x_train.dtype == np.int32
    assert ds.x_test.shape == (tokens.SYNTHETIC_TEST, 128) and ds.y_train.dtype == ds.y_test.dtype == np.int64
    assert np.bincount(ds.y_train).tolist() == [tokens.SYNTHETIC_TRAIN // 2] * 2
    assert np.bincount(ds.y_test).tolist() == [tokens.SYNTHETIC_TEST // 2] * 2
    for x in (ds.x_train, ds.x_test):
        assert x.min() == text.PAD_ID and x.max() < 30522 and not np.any(x == text.OOV_ID)
        assert np.all(x[:, -1] != text.PAD_ID)  # the last position always holds a token
        is_pad = x == text.PAD_ID
        assert np.all(is_pad[:, :-1] >= is_pad[:, 1:])  # padding only as a prefix
        assert (~is_pad).sum(axis=1).min() >= tokens.MIN_TOKENS
    assert ds.info["vocab_used"] > 10000  # filler spans the vocabulary, not a handful of ids
    again, other = data.load("text-bert", 0), data.load("text-bert", 1)
    assert np.array_equal(ds.x_train, again.x_train) and np.array_equal(ds.y_test, again.y_test)
    assert not np.array_equal(ds.x_train, other.x_train)
    # the lexicon is the same for every seed: seed 1's labels follow the same cue ids
    assert all(int(tokens.cue_score(r) > 0) == y for r, y in zip(other.x_test, other.y_test, strict=True))


def test_bert_shape_labels_follow_the_cues_and_are_learnable(bert_shape: data.Dataset) -> None:
    """The label is the majority polarity of the cue tokens (the rule scores 1.0); a bag-of-words model
    learns it from the 2048 training sequences, so a model that trains can be told from one that does not."""
    from scipy import sparse

    scores = np.array([tokens.cue_score(r) for r in bert_shape.x_train])
    assert np.all(scores % 2 == 1) and np.array_equal(scores > 0, bert_shape.y_train == 1)
    assert np.mean(np.abs(scores) == 1) > 0.2  # many sequences are decided by a single cue

    def counts(x: np.ndarray) -> sparse.csr_matrix:
        rows = np.repeat(np.arange(len(x)), x.shape[1])
        return sparse.csr_matrix((np.ones(x.size), (rows, x.ravel())), shape=(len(x), 30522))[:, 2:]

    model = LogisticRegression(max_iter=2000).fit(counts(bert_shape.x_train), bert_shape.y_train)
    accuracy = model.score(counts(bert_shape.x_test), bert_shape.y_test)
    assert accuracy > 0.85, accuracy  # seen: 0.95


def test_base_workloads_match_the_bert_shape_data() -> None:
    for wl in (workloads.get("bert-base-text"), workloads.get("lstm-base-text")):
        assert wl.dataset == "text-bert" and wl.scale == "base"
        assert wl.model_kwargs["seq_len"] == tokens.SEQ_LEN == 128
        assert wl.model_kwargs["vocab_size"] == tokens.VOCAB_SIZE == 30522


# --- IMDB (aclImdb) -------------------------------------------------------------------------------------

REVIEWS = {
    ("train", "pos", "0_9.txt"): "Great movie, great cast!",
    ("train", "pos", "1_8.txt"): "A great<br /><br />film",
    ("train", "neg", "2_1.txt"): "Bad movie. Bad, BAD acting",
    ("test", "pos", "3_10.txt"): "great film",
    ("test", "neg", "4_2.txt"): "Terrible movie",
}


def write_imdb(root: Path, reviews: dict[tuple[str, str, str], str] = REVIEWS) -> Path:
    for (split, label, name), body in reviews.items():
        folder = root / split / label
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(body, encoding="utf-8")
    return root


def padded(ids: list[int]) -> list[int]:
    return [text.PAD_ID] * (text.SEQ_LEN - len(ids)) + ids


@pytest.mark.parametrize("nested", [True, False], ids=["data_dir/aclImdb", "data_dir is aclImdb"])
def test_imdb_tree_loads_with_labels_and_vocabulary(tmp_path: Path, nested: bool) -> None:
    write_imdb(tmp_path / "aclImdb" if nested else tmp_path)
    ds = data.load("text", 0, tmp_path)
    assert ds.source.startswith("IMDB") and ds.num_classes == 2
    # neg before pos, files in name order
    assert ds.y_train.tolist() == [0, 1, 1] and ds.y_test.tolist() == [0, 1]
    # training words by count, ties alphabetical: bad 3, great 3, movie 2, then a, acting, cast, film;
    # "<br />" is removed (no "br"), case folded, punctuation split off
    bad, great, movie, a, acting, cast, film = range(2, 9)
    assert ds.info["vocab_used"] == 9
    assert ds.x_train.tolist() == [
        padded([bad, movie, bad, bad, acting]),
        padded([great, movie, great, cast]),
        padded([a, great, film]),
    ]
    assert ds.x_test.tolist() == [padded([text.OOV_ID, movie]), padded([great, film])]  # "terrible" is unseen
    assert ds.x_train.dtype == np.int32


def test_long_reviews_keep_their_last_words() -> None:
    vocab = {"dull": 2, "great": 3}
    row = text.encode([["dull"] * (text.SEQ_LEN + 5) + ["great"]], vocab)[0]
    assert row.tolist() == [2] * (text.SEQ_LEN - 1) + [3]


def test_missing_or_empty_imdb_tree_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="aclImdb"):
        data.load("text", 0, tmp_path)  # no aclImdb at all
    (tmp_path / "aclImdb").mkdir()
    with pytest.raises(UsageError, match=r"aclImdb/train/neg: no \*\.txt reviews"):
        data.load("text", 0, tmp_path)
    write_imdb(tmp_path / "aclImdb", {k: v for k, v in REVIEWS.items() if k[0] == "train"})
    with pytest.raises(UsageError, match=r"aclImdb/test/neg: no \*\.txt reviews"):
        data.load("text", 0, tmp_path)


def test_undecodable_review_is_a_usage_error_naming_the_file(tmp_path: Path) -> None:
    root = write_imdb(tmp_path / "aclImdb")
    (root / "train" / "pos" / "9_7.txt").write_bytes(b"caf\xe9 \xff\xfe")
    with pytest.raises(UsageError, match=r"9_7\.txt: not a readable UTF-8 review"):
        data.load("text", 0, tmp_path)
