import numpy as np
import pytest

from edgekit.data import model_inputs, random_inputs, read_arrays
from edgekit.errors import DataError

SPECS = [("image", (None, 8, 8, 1))]


def test_npz_picks_the_input_by_key_and_checks_shape(tmp_path, digits_data_path):
    (x,) = model_inputs(digits_data_path, SPECS, keys=("x_val",))
    assert x.shape == (360, 8, 8, 1) and x.dtype == np.float32
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((4, 8, 8, 3), np.float32))
    with pytest.raises(DataError, match=r"expects shape \(N, 8, 8, 1\); got \(4, 8, 8, 3\)"):
        model_inputs(bad, SPECS)


def test_pickles_are_never_loaded(tmp_path):
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="never loads"):
        read_arrays(path)


def test_nan_strings_and_ambiguous_keys_are_refused(tmp_path):
    with pytest.raises(DataError, match="NaN"):
        model_inputs(np.full((2, 8, 8, 1), np.nan, np.float32), SPECS)
    with pytest.raises(DataError, match="real numbers"):
        model_inputs(np.array([["a"]]), SPECS)
    path = tmp_path / "two.npz"
    np.savez(path, a=np.zeros((2, 8, 8, 1)), b=np.zeros((2, 8, 8, 1)))
    with pytest.raises(DataError, match="cannot tell which array feeds input 'image'"):
        model_inputs(path, SPECS)


def test_image_folders_are_resized_to_the_input(tmp_path):
    from PIL import Image

    for i in range(3):
        Image.fromarray(np.full((20, 30, 3), 60 * i, np.uint8)).save(tmp_path / f"{i}.png")
    (x,) = model_inputs(tmp_path, SPECS)
    assert x.shape == (3, 8, 8, 1)
    assert x[0].max() == 0.0 and 0.0 < x[1].mean() < x[2].mean() <= 1.0


def test_random_inputs_are_seeded():
    a, b = random_inputs(SPECS, 4, seed=3), random_inputs(SPECS, 4, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
