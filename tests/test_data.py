import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import DATASETS, DataError, load_dataset
from formats import write_cifar10, write_cifar100, write_mnist


def test_digits_is_embedded_with_a_fixed_stratified_split(digits):
    again = load_dataset("digits")
    assert digits.x_train.shape == (1347, 1, 8, 8) and digits.x_test.shape == (450, 1, 8, 8)
    assert digits.x_train.dtype == torch.uint8 and int(digits.x_train.max()) == 255
    assert torch.equal(digits.y_train, again.y_train) and torch.equal(digits.x_test, again.x_test)
    train_share = np.bincount(digits.y_train.numpy()) / len(digits.y_train)
    test_share = np.bincount(digits.y_test.numpy()) / len(digits.y_test)
    assert np.abs(train_share - test_share).max() < 0.01


def test_normalised_tensors_have_zero_mean_unit_std(digits):
    x, y = digits.tensors("train").tensors
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-2
    x5, y5 = digits.tensors("test", [0, 2, 4]).tensors
    assert torch.equal(y5, digits.y_test[[0, 2, 4]])


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_torchvision_mnist_reads_idx_files(tmp_path, name, folder):
    write_mnist(tmp_path, folder, 40, 20)
    ds = load_dataset(name, root=tmp_path)
    assert ds.x_train.shape == (40, 1, 28, 28) and ds.x_test.shape == (20, 1, 28, 28)
    assert ds.num_classes == 10 and ds.y_train.tolist()[:3] == [0, 1, 2]


def test_cifar10_reads_pickled_batches(tmp_path):
    write_cifar10(tmp_path, per_batch=10)
    ds = load_dataset("cifar10", root=tmp_path)
    assert ds.x_train.shape == (50, 3, 32, 32) and ds.x_test.shape == (10, 3, 32, 32)
    assert ds.classes[0] == "c0"


def test_cifar100_reads_pickled_batches(tmp_path):
    write_cifar100(tmp_path, n=20)
    ds = load_dataset("cifar100", root=tmp_path)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.num_classes == 100


@pytest.mark.parametrize("name,expected", [("mnist", "train-images-idx3-ubyte"), ("cifar10", "data_batch_1")])
def test_missing_dataset_names_files_and_where_to_put_them(tmp_path, name, expected):
    with pytest.raises(DataError) as e:
        load_dataset(name, root=tmp_path)
    assert expected in str(e.value) and str(tmp_path) in str(e.value) and "--download" in str(e.value)


def _npz(tmp_path, **arrays):
    p = tmp_path / "d.npz"
    np.savez(p, **arrays)
    return p


def test_npz_loads_and_splits(tmp_path):
    rng = np.random.default_rng(0)
    p = _npz(tmp_path, x=rng.integers(0, 256, (50, 12, 12, 3), dtype=np.uint8), y=np.arange(50) % 5)
    ds = load_dataset("npz", path=p)
    assert ds.input_shape == (3, 12, 12) and len(ds.y_train) == 40 and len(ds.y_test) == 10 and ds.num_classes == 5


@pytest.mark.parametrize("x,y,message", [
    (np.zeros((10, 8, 8), np.float32), np.arange(10) % 2, "uint8"),
    (np.zeros((10, 8), np.uint8), np.arange(10) % 2, "N×H×W"),
    (np.zeros((10, 8, 8, 5), np.uint8), np.arange(10) % 2, "channels"),
    (np.zeros((10, 8, 8), np.uint8), np.arange(9) % 2, "one label per image"),
    (np.zeros((10, 8, 8), np.uint8), np.zeros(10, int), "at least 2"),
    (np.zeros((10, 8, 8), np.uint8), np.linspace(0, 1, 10), "integers"),
])
def test_npz_refuses_bad_arrays_with_a_message(tmp_path, x, y, message):
    with pytest.raises(DataError, match=message):
        load_dataset("npz", path=_npz(tmp_path, x=x, y=y))


def test_npz_refuses_missing_arrays_and_non_npz(tmp_path):
    with pytest.raises(DataError, match="missing array"):
        load_dataset("npz", path=_npz(tmp_path, images=np.zeros((4, 8, 8), np.uint8)))
    bad = tmp_path / "junk.npz"
    bad.write_bytes(b"not an npz at all")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_dataset("npz", path=bad)


def _png(colour: int, grey: bool = True) -> bytes:
    buf = io.BytesIO()
    Image.new("L" if grey else "RGB", (20, 20), colour if grey else (colour, 0, 0)).save(buf, "PNG")
    return buf.getvalue()


def test_image_folder_zip_loads_classes(tmp_path):
    p = tmp_path / "imgs.zip"
    with zipfile.ZipFile(p, "w") as z:
        for cls, colour in (("cats", 30), ("dogs", 200)):
            for i in range(5):
                z.writestr(f"top/{cls}/{i}.png", _png(colour + i))
    ds = load_dataset("image_folder", path=p)
    assert ds.classes == ["cats", "dogs"] and ds.input_shape == (1, 32, 32) and len(ds.y_train) == 8


def test_image_folder_refuses_zip_slip_and_bombs(tmp_path):
    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as z:
        z.writestr("a/1.png", _png(1))
        z.writestr("../../evil.png", _png(2))
    with pytest.raises(DataError, match="zip slip"):
        load_dataset("image_folder", path=slip)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a/big.png", b"\0" * (20 * 1024**2))
    with pytest.raises(DataError, match="bomb"):
        load_dataset("image_folder", path=bomb)


def test_unknown_dataset_lists_choices():
    with pytest.raises(DataError, match="digits"):
        load_dataset("imagenet")
    assert set(DATASETS) >= {"digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "npz", "image_folder"}
