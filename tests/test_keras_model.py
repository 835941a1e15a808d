import numpy as np
import pytest

from edgekit.errors import ModelLoadError, UnsafeModelError
from edgekit.keras.loading import inspect_model_file, load_keras_model


def test_inspects_the_sample_without_tensorflow(digits_model_path):
    info = inspect_model_file(digits_model_path)
    assert (info.kind, info.keras_major) == ("h5", 2)
    assert info.config["class_name"] == "Functional"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", r"is an empty file \(0 bytes\)"),
        (b"hello, this is not a model", "is not a Keras model: expected an HDF5 .h5 file"),
        (b"\x00\x00\x00\x00TFL3" + bytes(32), "looks like a TFLite flatbuffer"),
        (b"PK\x03\x04" + bytes(40), "not a readable .keras zip"),
    ],
)
def test_bad_model_files_get_one_clear_error(tmp_path, content, message):
    path = tmp_path / "model.h5"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=message):
        inspect_model_file(path)


def test_truncated_h5_and_missing_and_non_savedmodel_dir(tmp_path, digits_model_path):
    truncated = tmp_path / "cut.h5"
    truncated.write_bytes(digits_model_path.read_bytes()[:5000])
    with pytest.raises(ModelLoadError, match="not a readable HDF5 file"):
        inspect_model_file(truncated)
    with pytest.raises(ModelLoadError, match="does not exist"):
        inspect_model_file(tmp_path / "nope.h5")
    with pytest.raises(ModelLoadError, match="not a SavedModel"):
        inspect_model_file(tmp_path)


def test_lambda_models_are_refused_unless_trusted(tmp_path):
    from edgekit._tf import tf_keras

    keras = tf_keras()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2.0), keras.layers.Dense(2)])
    for name in ("lam.h5", "lam.keras"):
        path = tmp_path / name
        model.save(path)
        with pytest.raises(UnsafeModelError, match="contains Lambda.*--trust-model"):
            load_keras_model(path)
        trusted = load_keras_model(path, trust_model=True)
        x = np.ones((1, 4), np.float32)
        np.testing.assert_allclose(trusted(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_loading_reuses_compile_settings(digits_keras):
    assert digits_keras.optimizer is not None
    assert "sparse_categorical_crossentropy" in str(digits_keras.loss)
