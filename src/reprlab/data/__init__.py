"""Data sets as plain ``torch.utils.data`` objects, read from local files only.

Images come back as float32 tensors in [0, 1] shaped (N, C, H, W) with int64 labels.
"""

from reprlab.data.datasets import (
    DatasetNotFoundError,
    ImageDataset,
    list_datasets,
    load_cifar10,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    load_svhn,
    make_loader,
)
from reprlab.data.idx import read_idx, write_idx

__all__ = [
    "DatasetNotFoundError",
    "ImageDataset",
    "list_datasets",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_svhn",
    "make_loader",
    "read_idx",
    "write_idx",
]
