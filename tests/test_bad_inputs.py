"""Every file of the bad-input corpus is refused with a clear message; nothing runs, nothing is written
outside DEEPCLEAN_HOME, refused uploads are not kept, and the app keeps serving."""

import importlib.util
import os
from pathlib import Path

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
    assert not uploads.exists() or not any(uploads.iterdir()), "a refused upload was kept"
    written = {p for p in listing(tmp_path) - outside_before if not p.startswith("home")}
    assert written == set(), f"written outside DEEPCLEAN_HOME: {written}"
    assert not (Path("/tmp") / "evil.png").exists() and not (tmp_path.parent / "evil.png").exists()


def test_the_loaders_refuse_the_same_files_directly(files, tmp_path):
    """Not only the upload path: the dataset loaders themselves refuse them (the CLI's --data-path)."""
    for name in ("zip_slip.zip", "zip_bomb.zip", "wrong_dtype.npz", "not_a_zip.zip"):
        kind = "npz" if name.endswith(".npz") else "image_folder"
        with pytest.raises(Exception, match=corpus.CORPUS[name][1]):
            load_dataset(kind, path=files[name])


def test_the_app_keeps_serving_after_bad_uploads(files):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_resource.clear()
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60).run()
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
