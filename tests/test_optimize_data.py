"""Training data sources for fine-tuning: .npz x/y with a split, class-named image folders, module:function."""

import sys

import numpy as np
import pytest

from edgekit.errors import DataError, UnsafeModelError
from edgekit.optimize import fit_to_model, load_train_data


def test_npz_xy_split_and_missing_keys(tmp_path, digits_data):
    path = tmp_path / "xy.npz"
    np.savez(path, x=digits_data["x_val"], y=digits_data["y_val"])
    data = load_train_data(path, val_split=0.25)
    assert len(data.x_val) == 90 and len(data.x_train) == 270
    np.savez(tmp_path / "bad.npz", images=digits_data["x_val"])
    with pytest.raises(DataError, match="needs x_train, y_train, x_val, y_val"):
        load_train_data(tmp_path / "bad.npz")
    with pytest.raises(DataError, match="val-split must be strictly between 0 and 1"):
        load_train_data(path, val_split=1.5)


def test_image_folder_is_read_at_the_model_input_size(tmp_path, digits_keras):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("zero", "one"):
        (tmp_path / label).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(tmp_path / label / f"{i}.png")
    data = fit_to_model(load_train_data(tmp_path, val_split=0.2), digits_keras)
    assert data.x_train.shape[1:] == (8, 8, 1) and data.classes == ("one", "zero")
    assert len(data.x_val) == 2 and set(np.concatenate([data.y_train, data.y_val])) == {0, 1}


def test_module_function_needs_trust_code(tmp_path, monkeypatch, digits_data):
    (tmp_path / "mydata.py").write_text(
        "import numpy as np, tensorflow as tf\n"
        "def load():\n"
        f"    d = np.load({str(tmp_path / 'd.npz')!r})\n"
        "    return tf.data.Dataset.from_tensor_slices((d['x'], d['y'])).batch(16)\n"
    )
    np.savez(tmp_path / "d.npz", x=digits_data["x_val"], y=digits_data["y_val"])
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UnsafeModelError, match="--trust-code"):
        load_train_data("mydata:load")
    from edgekit._tf import tf

    tf()
    data = load_train_data("mydata:load", trust_code=True)
    assert len(data.x_train) + len(data.x_val) == len(digits_data["x_val"])
    sys.modules.pop("mydata", None)
