"""Shared fixtures. The digits sample (samples/digits) is the model and data every area tests on."""

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DIGITS_MODEL = ROOT / "samples" / "digits" / "model.h5"
DIGITS_DATA = ROOT / "samples" / "digits" / "data.npz"


@pytest.fixture(scope="session")
def digits_model_path() -> Path:
    return DIGITS_MODEL


@pytest.fixture(scope="session")
def digits_data_path() -> Path:
    return DIGITS_DATA


@pytest.fixture(scope="session")
def digits_data() -> dict:
    with np.load(DIGITS_DATA, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="session")
def digits_keras(digits_model_path):
    """The sample as a tf-keras model (loaded once; tests must not mutate it)."""
    from edgekit.keras_model import load_keras_model

    return load_keras_model(digits_model_path)
