"""IMDB's reviews as a bag of words (Figure 1, right): a small aclImdb tree written here in the
real layout, its vocabulary, its binary features, and a logistic regression that learns them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optviz.training.config import TrainConfig
from optviz.training.data import DataUnavailable, to_float
from optviz.training.datasets import (
    IMDB_VOCABULARY,
    imdb_vocabulary,
    load_dataset,
    review_words,
)
from optviz.training.loop import Metric, train


def write_reviews(root: Path, split: str, kind: str, texts: list[str]) -> None:
    folder = root / "aclImdb" / split / kind
    folder.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(texts):
        (folder / f"{i}_{7 if kind == 'pos' else 2}.txt").write_text(text, encoding="utf-8")


def review_tree(root: Path, per_class: dict[str, int], seed: int = 0) -> Path:
    """Positive reviews say "great", negative ones "awful", among shared filler words."""
    rng = np.random.default_rng(seed)
    filler = ["the", "film", "plot", "actor", "scene", "music", "ending", "story"]
    for split, n in per_class.items():
        for kind, word in (("pos", "great"), ("neg", "awful")):
            texts = [
                " ".join([*rng.choice(filler, 5), word, "<br /><br />", *rng.choice(filler, 3)])
                for _ in range(n)
            ]
            write_reviews(root, split, kind, texts)
    return root


def test_review_words_are_lower_case_without_line_break_tags() -> None:
    assert review_words("Great film.<br /><br />It's GREAT!") == {"great", "film", "it's"}


def test_the_vocabulary_is_the_most_frequent_words_ties_alphabetical() -> None:
    reviews = [{"b", "a"}, {"b", "c"}, {"b", "a"}]
    assert imdb_vocabulary(reviews, 2) == ["b", "a"]
    assert imdb_vocabulary(reviews) == ["b", "a", "c"]


def test_imdb_loads_as_binary_features_over_the_training_vocabulary(tmp_path: Path) -> None:
    data = load_dataset("imdb", review_tree(tmp_path, {"train": 6, "test": 2}))
    assert data.key == "imdb" and data.classes == 2 and data.shape == (1, 1, IMDB_VOCABULARY)
    assert (len(data.train_labels), len(data.test_labels)) == (12, 4)
    assert 0 < data.train_labels[:6].sum() < 6  # shuffled: the first reviews hold both classes
    x = to_float(data.train_images)
    assert x.shape == (12, IMDB_VOCABULARY) and set(x.unique().tolist()) == {0.0, 1.0}
    # Ten words in all (eight fillers, "great", "awful"): columns past them stay empty, and one
    # column is exactly the positive reviews ("great"), another the negative ones ("awful").
    features = x.numpy().astype(np.int64)
    assert features[:, 10:].sum() == 0
    columns = [tuple(features[:, j]) for j in range(10)]
    assert tuple(data.train_labels) in columns and tuple(1 - data.train_labels) in columns


def test_missing_imdb_says_where_the_acl_imdb_folder_goes(tmp_path: Path) -> None:
    with pytest.raises(DataUnavailable) as error:
        load_dataset("imdb", tmp_path)
    assert str(tmp_path / "aclImdb" / "train" / "pos") in str(error.value)


def test_a_bag_of_words_takes_no_convolution(tmp_path: Path) -> None:
    assert TrainConfig(model="logreg", dataset="imdb").problems() == {}
    message = TrainConfig(model="cnn", dataset="imdb").problems()["model"]
    assert "does not apply to IMDB" in message and "Logistic regression" in message


def test_logistic_regression_learns_which_reviews_are_positive(tmp_path: Path) -> None:
    data = load_dataset("imdb", review_tree(tmp_path, {"train": 50, "test": 20}))
    config = TrainConfig(
        model="logreg",
        dataset="imdb",
        hyperparams={"lr": 0.01},
        epochs=3,
        batch_size=10,
        train_subset=100,
        test_subset=40,
    )
    metrics: list[Metric] = []
    result = train(config, data, metrics.append)
    assert result.status == "done", result.error
    tests = [m for m in metrics if m.kind == "test"]
    assert tests[-1].accuracy == 1.0 and tests[-1].loss < tests[0].loss
