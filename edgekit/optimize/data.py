"""Training and held-out data for fine-tuning and measuring: where it comes from and whether it fits the model.

``--data`` takes:
- an ``.npz`` with ``x_train``/``y_train``/``x_val``/``y_val``, or ``x``/``y`` split with ``val_split``;
- a folder of class-named image subfolders (``folder/cat/*.png``, ``folder/dog/*.png``; classes in sorted order),
  split with ``val_split``;
- inputs only, no labels: an ``.npy``, an ``.npz`` with ``x`` (or ``x_train``/``x_val``), or a folder of images
  without class subfolders. Fine-tuning then learns from the original model's outputs (distillation) and the
  variants are measured by their agreement with the original;
- ``module:function`` returning a ``tf.data.Dataset`` of ``(x, y)`` (or a ``(train, val)`` pair of them): this runs
  the user's code, so only with ``trust_code=True``.

Everything ends up as numpy arrays in a :class:`TrainData`, validated against the model's input shape and output.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit._user_code import user_object
from edgekit.data import IMAGE_SUFFIXES, check_input, read_arrays, read_image
from edgekit.errors import DataError, UnsafeModelError

DEFAULT_VAL_SPLIT = 0.2


@dataclass(frozen=True, eq=False)
class TrainData:
    """Arrays to fine-tune on (``x_train``/``y_train``) and to measure on (``x_val``/``y_val``, held out).
    Unlabelled data has ``y_train`` and ``y_val`` None."""

    x_train: np.ndarray
    y_train: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray | None
    source: str = "arrays"
    classes: tuple[str, ...] = ()  # class names, for an image folder
    images: Any = field(default=None, repr=False)  # an image folder, re-read at the model's input size

    def __post_init__(self):
        if (self.y_train is None) != (self.y_val is None):
            raise DataError(f"{self.source}: give labels for both the training and the held-out inputs, or for neither")
        for x, y, part in ((self.x_train, self.y_train, "training"), (self.x_val, self.y_val, "held-out")):
            if y is not None and len(x) != len(y):
                raise DataError(f"{self.source}: {part} data has {len(x)} inputs but {len(y)} labels")
            if len(x) == 0:
                raise DataError(f"{self.source}: the {part} set is empty")

    @property
    def labelled(self) -> bool:
        return self.y_train is not None

    def calibration(self, count: int = 200) -> np.ndarray:
        """A deterministic sample of the training inputs for int8 calibration."""
        step = max(1, len(self.x_train) // count)
        return self.x_train[::step][:count]

    def describe(self) -> str:
        unlabelled = "" if self.labelled else ", inputs only (no labels)"
        return f"{self.source}: {len(self.x_train)} training / {len(self.x_val)} held-out samples{unlabelled}"


def as_train_data(data: Any, val_split: float | None = None, trust_code: bool = False) -> TrainData | None:
    """A :class:`TrainData` from whatever the caller has: None, a TrainData, a path or spec string (see the module
    docstring), or a mapping of arrays with the ``.npz`` keys."""
    if data is None or isinstance(data, TrainData):
        return data
    if isinstance(data, dict):
        return _from_arrays(data, val_split, "arrays")
    if isinstance(data, (str, os.PathLike)):
        return load_train_data(data, val_split, trust_code)
    raise DataError(f"training data must be a path, 'module:function' or arrays; got {type(data).__name__}")


def load_train_data(spec: str | os.PathLike, val_split: float | None = None, trust_code: bool = False) -> TrainData:
    text = str(spec)
    p = Path(text)
    if p.is_dir():
        return _from_folder(p, val_split)
    if p.suffix in (".npz", ".npy"):
        return _from_arrays(read_arrays(p), val_split, str(p))  # read_arrays says what a bad path is
    if ":" in text and not p.exists() and _looks_like_callable(text):
        return _from_code(text, val_split, trust_code)
    if not p.exists():
        raise DataError(f"data {text!r} does not exist; give an .npz, a folder of class-named image folders, or module:function")
    raise DataError(f"unsupported data {p.name}: give an .npz, a folder of class-named image folders, or module:function")


def _looks_like_callable(text: str) -> bool:
    module, _, func = text.partition(":")
    return bool(module) and bool(func) and all(part.isidentifier() for part in module.split(".")) and func.isidentifier()


def _split(x: np.ndarray, y: np.ndarray | None, val_split: float | None, source: str):
    fraction = DEFAULT_VAL_SPLIT if val_split is None else float(val_split)
    if not 0.0 < fraction < 1.0:
        raise DataError(f"--val-split must be strictly between 0 and 1; got {val_split}")
    n_val = int(round(len(x) * fraction))
    if n_val < 1 or n_val >= len(x):
        raise DataError(f"{source}: {len(x)} samples cannot be split {fraction:g} held-out; give more data or x_val/y_val")
    order = np.random.default_rng(0).permutation(len(x))
    val, train = order[:n_val], order[n_val:]
    return x[train], None if y is None else y[train], x[val], None if y is None else y[val]


def _from_arrays(arrays: dict, val_split: float | None, source: str) -> TrainData:
    keys = set(arrays)
    if {"x_train", "y_train", "x_val", "y_val"} <= keys:
        if val_split is not None:
            raise DataError(f"{source} already holds x_val/y_val; drop --val-split or give x/y only")
        return TrainData(*(np.asarray(arrays[k]) for k in ("x_train", "y_train", "x_val", "y_val")), source=source)
    if {"x", "y"} <= keys:
        x, y = np.asarray(arrays["x"]), np.asarray(arrays["y"])
        if len(x) != len(y):
            raise DataError(f"{source}: x has {len(x)} samples but y has {len(y)}")
        return TrainData(*_split(x, y, val_split, source), source=source)
    if {"x_train", "x_val"} <= keys and not keys & {"y_train", "y_val", "y"}:
        if val_split is not None:
            raise DataError(f"{source} already holds x_val; drop --val-split or give x only")
        return TrainData(np.asarray(arrays["x_train"]), None, np.asarray(arrays["x_val"]), None, source=source)
    if "x" in keys and not keys & {"y", "y_train", "y_val"}:
        return TrainData(*_split(np.asarray(arrays["x"]), None, val_split, source), source=source)
    raise DataError(
        f"{source} holds {', '.join(sorted(keys)) or 'no arrays'}; training data needs x_train, y_train, x_val, y_val "
        "(or x and y, split with --val-split; or inputs only: x, or x_train and x_val)"
    )


def _from_folder(folder: Path, val_split: float | None) -> TrainData:
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        found = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if found:  # images without class folders: inputs only, for distillation
            return _LazyImages([(f, None) for f in found], [], val_split, str(folder)).load()
    if len(classes) < 2:
        raise DataError(f"{folder}: an image folder for training needs one subfolder per class (at least 2), or the "
                        f"images directly in it (inputs only, no labels); found {len(classes)} subfolder(s)")
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        found = sorted(f for f in (folder / name).rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise DataError(f"{folder / name}: no images ({', '.join(IMAGE_SUFFIXES)}) in this class folder")
        files += [(f, label) for f in found]
    return _LazyImages(files, classes, val_split, str(folder)).load()


class _LazyImages:
    """Image folders are read at the model's input size, which is known only when the data meets the model; until
    then the first image's size is used (see :func:`fit_to_model`)."""

    def __init__(self, files, classes, val_split, source):
        self.files, self.classes, self.val_split, self.source = files, classes, val_split, source

    def load(self, shape: tuple[int, int, int] | None = None) -> TrainData:
        if shape is None:
            from PIL import Image

            with Image.open(self.files[0][0]) as img:
                width, height = img.size
                channels = {"L": 1, "RGBA": 4}.get(img.mode, 3)
            shape = (height, width, channels)
        x = np.stack([read_image(f, shape) for f, _ in self.files])
        y = None if not self.classes else np.asarray([label for _, label in self.files], dtype=np.int64)
        return TrainData(*_split(x, y, self.val_split, self.source), source=self.source, classes=tuple(self.classes), images=self)


def _from_code(spec: str, val_split: float | None, trust_code: bool) -> TrainData:
    if not trust_code:
        raise UnsafeModelError(
            f"data {spec!r} names Python code to run; pass --trust-code (trust_code=True) only for code you trust"
        )
    func = user_object(spec, "--data", DataError)
    if not callable(func):
        raise DataError(f"--data {spec!r}: {func!r} is not a function")
    result = func()
    if isinstance(result, tuple) and len(result) == 2 and all(hasattr(r, "as_numpy_iterator") for r in result):
        (x_train, y_train), (x_val, y_val) = _dataset_arrays(result[0], spec), _dataset_arrays(result[1], spec)
        if val_split is not None:
            raise DataError(f"{spec} returns a (train, val) pair already; drop --val-split")
        return TrainData(x_train, y_train, x_val, y_val, source=spec)
    if hasattr(result, "as_numpy_iterator"):
        x, y = _dataset_arrays(result, spec)
        return TrainData(*_split(x, y, val_split, spec), source=spec)
    raise DataError(f"{spec} must return a tf.data.Dataset of (x, y) or a (train, val) pair of them; got {type(result).__name__}")


def _dataset_arrays(dataset: Any, spec: str) -> tuple[np.ndarray, np.ndarray]:
    """All (x, y) elements of a dataset, batched or not, as two arrays."""
    xs, ys = [], []
    batched = None
    for element in dataset.as_numpy_iterator():
        if not isinstance(element, tuple) or len(element) < 2:
            raise DataError(f"{spec}: dataset elements must be (x, y) pairs; got {type(element).__name__}")
        x, y = np.asarray(element[0]), np.asarray(element[1])
        if batched is None:
            spec_shape = getattr(dataset, "element_spec", None)
            first = spec_shape[0].shape if isinstance(spec_shape, tuple) else None
            batched = first is not None and len(first) > 0 and first[0] is None
        xs.append(x if batched else x[None])
        ys.append(y if batched else np.asarray(y)[None])
    if not xs:
        raise DataError(f"{spec}: the dataset is empty")
    return np.concatenate(xs), np.concatenate(ys)


def fit_to_model(data: TrainData, model) -> TrainData:
    """Check ``data`` against a single-input Keras ``model`` (input shape, label range for classifiers) and return
    it as float32 inputs. Image folders are re-read at the model's input size."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise DataError(
            f"fine-tuning supports models with one input and one output; {model.name} has {len(model.inputs)} "
            f"input(s) and {len(model.outputs)} output(s)"
        )
    in_shape = tuple(model.inputs[0].shape.as_list())
    reload = data.images
    if reload is not None and len(in_shape) == 4 and None not in in_shape[1:]:
        data = reload.load(tuple(in_shape[1:]))
    name = model.inputs[0].name.split(":")[0]
    x_train = check_input(np.asarray(data.x_train), in_shape, name, f"{data.source} (training inputs)")
    x_val = check_input(np.asarray(data.x_val), in_shape, name, f"{data.source} (held-out inputs)")
    out_shape = tuple(model.outputs[0].shape.as_list())
    y_train = y_val = None
    if data.labelled:
        y_train, y_val = _labels(data.y_train, out_shape, data.source, "training"), _labels(data.y_val, out_shape, data.source, "held-out")
    return TrainData(x_train, y_train, x_val, y_val, source=data.source, classes=data.classes)


def _labels(y: np.ndarray, out_shape: tuple, source: str, part: str) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind not in "iuf" or not np.all(np.isfinite(y)):
        raise DataError(f"{source}: {part} labels must be finite numbers; got dtype {y.dtype}")
    classes = out_shape[-1] if len(out_shape) == 2 else None
    if classes and classes >= 2:
        if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
            if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
                raise DataError(f"{source}: {part} labels must be class indices 0..{classes - 1}; got fractional values")
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or hi >= classes:
                raise DataError(
                    f"{source}: {part} labels range {lo}..{hi} but the model outputs {classes} classes (0..{classes - 1})"
                )
            return y.reshape(-1).astype(np.int64)
        if y.ndim == 2 and y.shape[1] == classes:
            return y.astype(np.float32)
        raise DataError(f"{source}: {part} labels of shape {y.shape} fit neither class indices nor one-hot for {classes} classes")
    want = out_shape[1:]
    if tuple(y.shape[1:]) != tuple(w for w in want) and not (len(want) == 1 and want[0] == 1 and y.ndim == 1):
        raise DataError(f"{source}: {part} targets of shape {y.shape} do not match the model output (N, {', '.join(map(str, want))})")
    return y.astype(np.float32)
