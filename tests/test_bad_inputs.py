"""Every file of the bad-input corpus is refused with a clear message; nothing runs, nothing is written
outside DEEPCLEAN_HOME, refused uploads are not kept, and the app keeps serving."""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from core.data import load_dataset
from core.forget import ForgetSpecError, read_indices_csv, resolve
from core.uploads import UploadError, save_checkpoint_upload, save_dataset_upload

spec = importlib.util.spec_from_file_location("make_corpus", Path(__file__).parent / "bad_inputs" / "make_corpus.py")
corpus = importlib.util.module_from_spec(spec)
spec.loader.exec_module(corpus)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return corpus.build(tmp_path_factory.mktemp("corpus"))


def listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("name", sorted(corpus.CORPUS))
def test_each_bad_input_is_refused_with_its_message(name, files, digits, tmp_path, monkeypatch):
    entry, pattern = corpus.CORPUS[name]
    monkeypatch.setenv("DEEPCLEAN_MAX_UPLOAD_MB", "1")
    monkeypatch.setenv("DEEPCLEAN_MAX_DATASET_MB", "64")  # the bomb's 512 MiB is over it (the default is 1024)
    corpus.MARKER.unlink(missing_ok=True)
    home = Path(os.environ["DEEPCLEAN_HOME"])
    outside_before = listing(tmp_path) - {str(p.relative_to(tmp_path)) for p in home.rglob("*")}
    data = files[name].read_bytes()
    if entry == "checkpoint":
        with pytest.raises(UploadError, match=pattern):
            save_checkpoint_upload(data, name, "cnn_small", digits)
    elif entry == "dataset":
        with pytest.raises(UploadError, match=pattern):
            save_dataset_upload(data, name)
    else:
        with pytest.raises(ForgetSpecError, match=pattern):
            resolve(read_indices_csv(data.decode()), digits.y_train.numpy(), digits.num_classes)
    assert not corpus.MARKER.exists(), "a payload ran"
    uploads = home / "uploads"
    assert not uploads.exists() or not [p for p in uploads.rglob("*") if p.is_file()], "a refused upload was kept"
    written = {p for p in listing(tmp_path) - outside_before if not p.startswith("home")}
    assert written == set(), f"written outside DEEPCLEAN_HOME: {written}"
    assert not (Path("/tmp") / "evil.png").exists() and not (tmp_path.parent / "evil.png").exists()


def test_the_loaders_refuse_the_same_files_directly(files, tmp_path):
    """Not only the upload path: the dataset loaders themselves refuse them (the CLI's --data-path)."""
    for name in ("zip_slip.zip", "zip_bomb.zip", "wrong_dtype.npz", "not_a_zip.zip", "npz_declares_16_tib.npz",
                 "npz_extra_member.npz", "image_dimension_bomb.zip", "image_pixel_total_bomb.zip", "bad_crc.zip"):
        kind = "npz" if name.endswith(".npz") else "image_folder"
        with pytest.raises(Exception, match=corpus.CORPUS[name][1]):
            load_dataset(kind, path=files[name])


def test_the_app_keeps_serving_after_bad_uploads(files):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_resource.clear()
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60).run()
    at.switch_page("pages/model.py").run()
    for name in ("random_bytes.safetensors", "evil_pickle.pt", "other_class_count.safetensors"):
        at.file_uploader[0].set_value((name, files[name].read_bytes(), "application/octet-stream"))
        at.run()
        [b for b in at.button if b.label.startswith("Check and use")][0].click().run()
        assert not at.exception and at.error, name
    for name in ("zip_slip.zip", "wrong_shape.npz"):
        at.file_uploader[1].set_value((name, files[name].read_bytes(), "application/octet-stream"))
        at.run()
        [b for b in at.button if b.label == "Check this dataset"][0].click().run()
        assert not at.exception and at.error, name
    assert {m.label: m.value for m in at.metric}["Test accuracy"] == "98.67%"
    st.cache_resource.clear()


def test_an_upload_never_removes_a_file_another_upload_made(shipped, digits, files):
    """Issue 13, item 7: the same bytes uploaded again with the wrong architecture used to delete the first,
    validated copy (content-addressed names, and "delete on a failed check")."""
    from core.uploads import list_uploaded_checkpoints

    data = shipped.read_bytes()
    path, card = save_checkpoint_upload(data, "mine.safetensors", "cnn_small", digits)
    with pytest.raises(UploadError, match="(?i)missing|unexpected|shape"):
        save_checkpoint_upload(data, "mine.safetensors", "resnet18", digits)
    assert path.is_file() and path.with_suffix(".json").is_file() and list_uploaded_checkpoints() == [path]
    again, card2 = save_checkpoint_upload(data, "mine.safetensors", "cnn_small", digits)  # the same upload twice
    assert again == path and card2["sha256"] == card["sha256"]
    with pytest.raises(UploadError):
        save_dataset_upload(files["wrong_shape.npz"].read_bytes(), "wrong_shape.npz")
    assert list_uploaded_checkpoints() == [path]


def test_uploads_are_checked_in_a_separate_process_whose_limits_are_refusals(shipped, digits, monkeypatch):
    """Issue 13, item 6: the check runs in a child process with memory and time limits; running out of either
    (or the child crashing) refuses the upload with a message, keeps nothing, and the server goes on."""
    home = Path(os.environ["DEEPCLEAN_HOME"])
    labels = corpus.npy(np.arange(1024) % 2)
    big = corpus.npz({"x": ((1024, 256, 256), 2**26), "y": labels})  # 64 MiB of zeros: within the dataset budget
    monkeypatch.setenv("DEEPCLEAN_UPLOAD_MEMORY_MB", "40")
    with pytest.raises(UploadError, match="(?i)more memory than the 40 MB.*DEEPCLEAN_UPLOAD_MEMORY_MB"):
        save_dataset_upload(big, "big.npz")
    monkeypatch.delenv("DEEPCLEAN_UPLOAD_MEMORY_MB")
    slow = corpus.image_zip({f"{k % 2}/{k}.png": corpus.png(7000, 7000) for k in range(8)})  # 392 Mpixels to decode
    monkeypatch.setenv("DEEPCLEAN_UPLOAD_TIMEOUT_S", "0.3")
    with pytest.raises(UploadError, match="(?i)longer than 0.3 s.*DEEPCLEAN_UPLOAD_TIMEOUT_S"):
        save_dataset_upload(slow, "slow.zip")
    monkeypatch.delenv("DEEPCLEAN_UPLOAD_TIMEOUT_S")
    uploads = home / "uploads"
    assert not [p for p in uploads.rglob("*") if p.is_file()]  # nothing refused was kept
    path, ds = save_dataset_upload(big, "big.npz")  # the same file within the limits: accepted
    assert path.is_file() and ds.num_classes == 2
    path, _ = save_checkpoint_upload(shipped.read_bytes(), "mine.safetensors", "cnn_small", digits)
    assert path.is_file()
