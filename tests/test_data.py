"""Dataset readers on small files the tests write, the restricted unpickler, batching,
and atomic checkpoints."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest
from PIL import Image

from minigan import data
from minigan.data import BatchIterator, DataError
from minigan.data.formats import read_idx
from minigan.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def write_idx(path, array: np.ndarray, gz: bool = False) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def make_mnist(folder, n=12, gz=False, size=28):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", images, gz)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", labels, gz)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx(tmp_path, gz):
    images, labels = make_mnist(tmp_path, gz=gz)
    ds = data.load("mnist", str(tmp_path), img_size=28)
    assert ds.images.shape == (12, 1, 28, 28) and ds.images.dtype == np.float32
    np.testing.assert_allclose(ds.images[:, 0], images / 127.5 - 1, atol=1e-6)
    np.testing.assert_array_equal(ds.labels, labels)
    resized = data.load("fashion-mnist", str(tmp_path), img_size=32)
    assert resized.images.shape == (12, 1, 32, 32)
    assert resized.images.min() >= -1 and resized.images.max() <= 1


def test_idx_errors_name_the_file(tmp_path):
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x12\x34\x56\x78rest")
    with pytest.raises(DataError, match="train-images-idx3-ubyte: not an IDX file"):
        read_idx(bad)
    write_idx(bad, np.zeros((2, 3, 3), np.uint8))
    bad.write_bytes(bad.read_bytes()[:-4])  # truncated data
    with pytest.raises(DataError, match="needs 18"):
        read_idx(bad)
    (tmp_path / "x.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataError, match="x.gz: corrupt gzip"):
        read_idx(tmp_path / "x.gz")
    with pytest.raises(DataError, match="none of train-images-idx3-ubyte"):
        data.load("mnist", str(_empty(tmp_path)), 28)


def _empty(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    return d


def test_mnist_label_count_mismatch(tmp_path):
    make_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(DataError, match="expected 12 labels"):
        data.load("mnist", str(tmp_path), 28)


def make_cifar(folder, n_batches=2, n=6):
    rng = np.random.default_rng(1)
    sub = folder / "cifar-10-batches-py"
    sub.mkdir()
    all_images = []
    for b in range(1, n_batches + 1):
        images = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        batch = {b"batch_label": b"training batch", b"labels": list(rng.integers(0, 10, n)),
                 b"data": images, b"filenames": [b"x.png"] * n}
        with open(sub / f"data_batch_{b}", "wb") as f:
            pickle.dump(batch, f)
        all_images.append(images)
    return np.concatenate(all_images).reshape(-1, 3, 32, 32)


def test_cifar10_batches(tmp_path):
    images = make_cifar(tmp_path)
    ds = data.load("cifar10", str(tmp_path), img_size=32)
    assert ds.images.shape == (12, 3, 32, 32)
    np.testing.assert_allclose(ds.images, images / 127.5 - 1, atol=1e-6)
    assert data.load("cifar10", str(tmp_path), img_size=64).images.shape == (12, 3, 64, 64)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/minigan_pwned",))


def test_cifar10_refuses_code_in_pickles(tmp_path):
    sub = tmp_path / "cifar-10-batches-py"
    sub.mkdir()
    with open(sub / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _Exploit(), b"labels": []}, f)
    with pytest.raises(DataError, match="data_batch_1: not a CIFAR-10 python batch.*refusing"):
        data.load("cifar10", str(tmp_path), 32)
    assert not os.path.exists("/tmp/minigan_pwned")


def test_cifar10_wrong_layout(tmp_path):
    sub = tmp_path / "cifar-10-batches-py"
    sub.mkdir()
    with open(sub / "data_batch_1", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(DataError, match=r"data_batch_1: expected b'data' as an \(N, 3072\)"):
        data.load("cifar10", str(tmp_path), 32)


def test_image_folder(tmp_path):
    rng = np.random.default_rng(2)
    (tmp_path / "a" / "b").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(
        tmp_path / "a" / "1.png")
    Image.fromarray(rng.integers(0, 256, (50, 30, 3), dtype=np.uint8)).save(
        tmp_path / "a" / "b" / "2.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    ds = data.load("folder", str(tmp_path), img_size=32)
    assert ds.images.shape == (2, 3, 32, 32) and ds.labels is None
    assert ds.images.min() >= -1 and ds.images.max() <= 1


def test_image_folder_corrupt_file(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match="broken.png: cannot decode image"):
        data.load("folder", str(tmp_path), 32)


def test_default_digits_and_unknown_names():
    ds = data.load("digits", img_size=32)
    assert ds.images.shape == (1797, 1, 32, 32) and ds.num_classes == 10
    assert -1 <= ds.images.min() < -0.9 and ds.images.max() > 0.9
    with pytest.raises(DataError, match="unknown dataset 'imagenet'"):
        data.load("imagenet")
    with pytest.raises(DataError, match="needs --data-dir"):
        data.load("mnist")


def test_batch_iterator_is_a_function_of_seed_and_step():
    ds = data.Dataset(np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1), None, "toy")
    it = BatchIterator(ds, 3, seed=5)
    assert it.batches_per_epoch == 3
    epoch0 = np.concatenate([it.batch(i)[0].ravel() for i in range(3)])
    assert len(set(epoch0.tolist())) == 9  # no repeats inside an epoch
    again = BatchIterator(ds, 3, seed=5)
    np.testing.assert_array_equal(again.batch(4)[0], it.batch(4)[0])
    other = BatchIterator(ds, 3, seed=6)
    assert not all(np.array_equal(other.batch(i)[0], it.batch(i)[0]) for i in range(3))
    with pytest.raises(DataError, match="larger than the dataset"):
        BatchIterator(ds, 11)


def test_checkpoint_roundtrip_and_atomicity(tmp_path, monkeypatch):
    path = tmp_path / "ck" / "latest.npz"
    save_checkpoint(path, {"w": np.arange(4.0)}, {"step": 1})
    arrays, meta = load_checkpoint(path)
    np.testing.assert_array_equal(arrays["w"], np.arange(4.0))
    assert meta == {"step": 1}

    def crash_mid_write(f, **payload):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(np, "savez", crash_mid_write)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"w": np.zeros(4)}, {"step": 2})
    arrays, meta = load_checkpoint(path)  # the previous checkpoint is intact
    assert meta["step"] == 1 and arrays["w"][3] == 3.0
    assert os.listdir(path.parent) == ["latest.npz"]  # no temp file left behind


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="junk.npz: not a readable minigan checkpoint"):
        load_checkpoint(tmp_path / "junk.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    with pytest.raises(CheckpointError, match="not a minigan checkpoint"):
        load_checkpoint(tmp_path / "plain.npz")
