"""The one documented place where edgekit touches process-wide state: TensorFlow's environment.

tensorflow-model-optimization only works with Keras 2 (``tf_keras``). TensorFlow reads ``TF_USE_LEGACY_KERAS``
when it is first imported, so every edgekit module that needs TensorFlow gets it through :func:`tf` /
:func:`tf_keras` here, never by ``import tensorflow`` at module level. Keras 3 stays importable as ``keras``.
"""

from __future__ import annotations

import importlib
import logging
import os
import warnings

from edgekit._log import quiet_native, verbose
from edgekit.errors import DependencyError

_configured = False


def _configure_environment() -> None:
    global _configured
    if _configured:
        return
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    if not verbose():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    _configured = True


def _import(name: str):
    _configure_environment()
    try:
        with quiet_native(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module(name)
    except ImportError as exc:
        raise DependencyError(name.split(".")[0]) from exc
    if not verbose():
        for noisy in ("tensorflow", "absl", "tf2onnx", "h5py"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    return module


def tf():
    """``tensorflow``, imported with edgekit's environment (legacy Keras, quiet logs)."""
    module = _import("tensorflow")
    if not verbose():
        module.get_logger().setLevel(logging.ERROR)
        try:
            module.autograph.set_verbosity(0)
        except AttributeError:
            pass
    return module


def tf_keras():
    """Keras 2 (``tf_keras``), the Keras that tensorflow-model-optimization works with."""
    tf()
    return _import("tf_keras")


def tfmot():
    tf()
    return _import("tensorflow_model_optimization")


def tf2onnx():
    """tf2onnx, imported after TensorFlow with edgekit's environment."""
    tf()
    return _import("tf2onnx")


def keras3():
    """Keras 3 (``keras``), for models saved by ``tf.keras`` in TensorFlow 2.16+."""
    tf()
    module = _import("keras")
    if int(module.__version__.split(".")[0]) < 3:
        raise DependencyError("keras>=3")
    return module
