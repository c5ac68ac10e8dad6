"""The dataset registry: Fashion-MNIST's IDX files (Debian's package or the data folder), CIFAR-10's
binary batches and their checksum-verified, traversal-proof download from a real local HTTP
server, each from small files in the real formats written here byte by byte."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from optviz.training import datasets
from optviz.training.config import TrainConfig
from optviz.training.data import Dataset, DataUnavailable, Mnist, to_float
from optviz.training.datasets import (
    CIFAR10_FILES,
    CIFAR10_FOLDER,
    DATASETS,
    download_cifar10,
    extract_cifar10,
    load_dataset,
    load_fashion_mnist,
)
from training.support import cifar_files, write_cifar_dir, write_mnist_dir

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def random_set(key: str, shape: tuple[int, ...], n_train: int, n_test: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return Dataset(
        rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        rng.integers(0, 10, n_train),
        rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        rng.integers(0, 10, n_test),
        source="random",
        key=key,
    )


def cifar_archive(path: Path, files: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> Path:
    """A gzipped tar laid out as the official binary archive, plus ``extra`` members."""
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in {**files, "batches.meta.txt": b"airplane\n"}.items():
            info = tarfile.TarInfo(f"{CIFAR10_FOLDER}/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real HTTP server on loopback serving a folder: (folder, base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # bound: ready to accept
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


# --- the Dataset type -----------------------------------------------------------------------


def test_a_dataset_knows_its_image_shape_and_flattens_channel_major() -> None:
    cifar = random_set("cifar10", (3, 32, 32), 5, 2)
    assert cifar.shape == (3, 32, 32) and cifar.features == 3072
    flat = to_float(cifar.train_images)
    assert flat.shape == (5, 3072)
    np.testing.assert_array_equal(flat.numpy() * 255, cifar.train_images.reshape(5, -1))
    digits = random_set("mnist", (28, 28), 5, 2)
    assert digits.shape == (1, 28, 28) and to_float(digits.train_images).shape == (5, 784)
    assert Mnist is Dataset  # the Live MNIST page's name for it


def test_a_dataset_refuses_labels_beyond_its_classes_and_mismatched_shapes() -> None:
    images = np.zeros((2, 28, 28), np.uint8)
    with pytest.raises(ValueError, match=r"0\.\.9"):
        Dataset(images, np.array([0, 10]), images, np.array([0, 1]), source="x")
    with pytest.raises(ValueError, match="test images"):
        Dataset(images, np.array([0, 1]), np.zeros((2, 3, 28, 28), np.uint8), np.array([0, 1]), "x")


def test_the_config_names_the_known_datasets_when_given_an_unknown_one() -> None:
    assert TrainConfig().dataset == "mnist" and "dataset" not in TrainConfig().problems()
    message = TrainConfig(dataset="imagenet").problems()["dataset"]
    assert "'imagenet'" in message and all(key in message for key in DATASETS)
    for key in ("mnist", "fashion-mnist", "cifar10"):
        assert TrainConfig(dataset=key).problems() == {}


# --- Fashion-MNIST --------------------------------------------------------------------------


def test_fashion_mnist_loads_from_idx_files_in_the_data_folder(tmp_path: Path) -> None:
    expected = random_set("fashion-mnist", (28, 28), 30, 10)
    write_mnist_dir(tmp_path / "fashion-mnist", expected)
    loaded = load_fashion_mnist(tmp_path, system_dir=tmp_path / "no-package")
    assert loaded.key == "fashion-mnist" and "fashion-mnist" in loaded.source
    np.testing.assert_array_equal(loaded.train_images, expected.train_images)
    np.testing.assert_array_equal(loaded.test_labels, expected.test_labels)


def test_fashion_mnist_comes_from_debians_package_when_the_data_folder_has_none(
    tmp_path: Path,
) -> None:
    if not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail("Debian's dataset-fashion-mnist is not installed (scripts/test.sh installs it)")
    data = load_dataset("fashion-mnist", tmp_path)
    assert str(DEBIAN_FASHION) in data.source
    assert (len(data.train_labels), len(data.test_labels)) == (60_000, 10_000)
    assert data.shape == (1, 28, 28)
    assert sorted(set(data.test_labels.tolist())) == list(range(10))
    assert load_dataset("fashion-mnist", tmp_path) is data  # cached in-process


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DataUnavailable) as error:
        load_fashion_mnist(tmp_path, system_dir=tmp_path / "no-package")
    message = str(error.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(tmp_path / "fashion-mnist") in message


# --- CIFAR-10 -----------------------------------------------------------------------------


def test_cifar10_binary_batches_load_record_for_record(tmp_path: Path) -> None:
    files = cifar_files()
    data = load_dataset("cifar10", write_cifar_dir(tmp_path, files))
    assert data.key == "cifar10" and data.shape == (3, 32, 32)
    assert (len(data.train_labels), len(data.test_labels)) == (20, 3)
    first = files["data_batch_1.bin"]
    assert data.train_labels[0] == first[0]
    red, green, blue = first[1:1025], first[1025:2049], first[2049:3073]
    assert data.train_images[0, 0, 0, 0] == red[0] and data.train_images[0, 0, 31, 31] == red[-1]
    assert data.train_images[0, 1, 0, 1] == green[1] and data.train_images[0, 2, 1, 0] == blue[32]
    last = files["data_batch_5.bin"][-3073:]  # the last training record is batch 5's last
    assert data.train_labels[-1] == last[0]
    np.testing.assert_array_equal(data.train_images[-1].ravel(), np.frombuffer(last[1:], np.uint8))


def test_a_truncated_cifar10_batch_is_refused(tmp_path: Path) -> None:
    files = cifar_files()
    files["test_batch.bin"] = files["test_batch.bin"][:-7]
    with pytest.raises(DataUnavailable, match="whole number of 3073-byte records"):
        load_dataset("cifar10", write_cifar_dir(tmp_path, files))


def test_missing_cifar10_says_where_to_put_it_and_how_to_fetch_it(tmp_path: Path) -> None:
    with pytest.raises(DataUnavailable) as error:
        load_dataset("cifar10", tmp_path)
    message = str(error.value)
    assert str(tmp_path / CIFAR10_FOLDER) in message
    assert "data_batch_1.bin" in message and "test_batch.bin" in message
    assert "python -m optviz.training.datasets cifar10" in message


def test_cifar10_downloads_on_demand_checksum_verified_and_cached(
    tmp_path: Path, http_root: tuple[Path, str]
) -> None:
    root, base = http_root
    files = cifar_files(seed=1)
    archive = cifar_archive(root / "cifar.tar.gz", files)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    data_dir = tmp_path / "data"
    data = download_cifar10(data_dir, f"{base}/cifar.tar.gz", f"sha256:{digest}")
    assert (len(data.train_labels), len(data.test_labels)) == (20, 3)
    assert sorted(p.name for p in (data_dir / CIFAR10_FOLDER).iterdir()) == sorted(CIFAR10_FILES)
    assert (data_dir / "cifar-10-binary.tar.gz").read_bytes() == archive.read_bytes()
    archive.unlink()  # the server has nothing to give now: a second call uses the cache
    again = download_cifar10(data_dir, f"{base}/cifar.tar.gz", f"sha256:{digest}")
    np.testing.assert_array_equal(again.train_images, data.train_images)
    assert load_dataset("cifar10", data_dir).summary == data.summary


def test_a_download_with_the_wrong_checksum_is_discarded(
    tmp_path: Path, http_root: tuple[Path, str]
) -> None:
    root, base = http_root
    cifar_archive(root / "cifar.tar.gz", cifar_files())
    data_dir = tmp_path / "data"
    with pytest.raises(ValueError, match="does not match"):
        download_cifar10(data_dir, f"{base}/cifar.tar.gz", "md5:" + "0" * 32)
    assert list(data_dir.iterdir()) == []  # neither the archive nor a part file is left


def test_an_unofficial_url_without_a_checksum_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no checksum"):
        download_cifar10(tmp_path, "http://127.0.0.1:9/cifar.tar.gz")
    with pytest.raises(ValueError, match="not 'sha256"):
        download_cifar10(tmp_path, "http://127.0.0.1:9/cifar.tar.gz", "sha1:abc")


@pytest.mark.parametrize(
    "name",
    ["../escaped.bin", "/tmp/absolute.bin", f"{CIFAR10_FOLDER}/../../escaped.bin"],
    ids=["parent", "absolute", "nested-parent"],
)
def test_an_archive_member_leaving_the_folder_is_refused_before_writing(
    tmp_path: Path, http_root: tuple[Path, str], name: str
) -> None:
    root, base = http_root
    evil = tarfile.TarInfo(name)
    evil.size = 3
    archive = cifar_archive(root / "cifar.tar.gz", cifar_files(), [evil])
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    data_dir = tmp_path / "deep" / "data"
    with pytest.raises(ValueError, match="unsafe member path"):
        download_cifar10(data_dir, f"{base}/cifar.tar.gz", f"sha256:{digest}")
    assert not (data_dir / CIFAR10_FOLDER).exists()
    assert not list(tmp_path.rglob("escaped.bin")) and not Path("/tmp/absolute.bin").exists()


def test_a_link_in_place_of_a_data_file_is_refused(tmp_path: Path) -> None:
    files = cifar_files()
    del files["test_batch.bin"]
    link = tarfile.TarInfo(f"{CIFAR10_FOLDER}/test_batch.bin")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    archive = cifar_archive(tmp_path / "cifar.tar.gz", files, [link])
    with pytest.raises(ValueError, match="not a regular file"):
        extract_cifar10(archive, tmp_path)
    assert not (tmp_path / CIFAR10_FOLDER).exists()


def test_the_official_archive_is_verified_by_its_published_md5_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a checksum the official URL is checked against the MD5 its authors publish: a
    local archive with other bytes is not taken for it (nothing is fetched: the URL is local)."""
    seen = {}

    def fetch(url: str, target: Path, algorithm: str, expected: str, timeout: float) -> None:
        seen.update(url=url, algorithm=algorithm, expected=expected)
        raise OSError("offline")

    monkeypatch.setattr(datasets, "_fetch", fetch)
    monkeypatch.delenv("OPTVIZ_CIFAR10_URL", raising=False)
    monkeypatch.delenv("OPTVIZ_CIFAR10_CHECKSUM", raising=False)
    cifar_archive(tmp_path / "cifar-10-binary.tar.gz", cifar_files())  # not the real bytes
    with pytest.raises(OSError, match="offline"):
        download_cifar10(tmp_path)
    assert seen == {
        "url": datasets.CIFAR10_URL,
        "algorithm": "md5",
        "expected": "c32a1d4ab5d03f1284b67883e8d87530",
    }
