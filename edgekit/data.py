"""Reading user data safely: ``.npz``/``.npy`` arrays (never pickles) and folders of images.

Shared by conversion (calibration and parity inputs) and optimization (training and evaluation data).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgekit import limits
from edgekit._fs import check_input_path
from edgekit.errors import DataError, DependencyError
from edgekit.expansion import check_npy_header, check_zip

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def check_arrays_file(path: str | os.PathLike) -> Path:
    """``path`` if it is an ``.npz``/``.npy`` whose declared contents (zip member sizes, array shapes) are what it
    holds and within :mod:`edgekit.limits`; else one DataError line. Reads headers only, never the arrays."""
    p = check_input_path(path, "data file", DataError)
    if p.suffix not in (".npy", ".npz"):
        raise DataError(f"unsupported data file {p.name}: give an .npz, an .npy or a folder of images")
    shapes = []
    try:
        if p.suffix == ".npy":
            with p.open("rb") as fh:
                shapes.append(check_npy_header(fh, p.stat().st_size, str(p), DataError)[0])
        else:
            with zipfile.ZipFile(p) as archive:
                for info in check_zip(archive, str(p), DataError):
                    if info.filename.endswith(".npy"):
                        with archive.open(info) as fh:
                            label = f"{p} (array {info.filename[:-4]!r})"
                            shapes.append(check_npy_header(fh, info.file_size, label, DataError)[0])
    except (OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
        raise DataError(f"{p} is not a readable numpy file (truncated or corrupt?): {exc}") from None
    if shapes and all(shape and shape[0] == 0 for shape in shapes):
        raise DataError(f"{p}: the data holds 0 samples; give at least one")
    return p


def check_data_source(source: Any) -> None:
    """The cheap checks of :func:`check_arrays_file` for a data argument that names an array file (anything else
    is checked where it is read): run before any slow work."""
    if isinstance(source, (str, os.PathLike)) and str(source) != "random" and Path(source).suffix in (".npz", ".npy"):
        check_arrays_file(source)


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays in an ``.npz`` (by key) or ``.npy`` (as ``x``), read with ``allow_pickle=False`` after
    :func:`check_arrays_file`."""
    p = check_arrays_file(path)
    try:
        if p.suffix == ".npy":
            return {"x": np.load(p, allow_pickle=False)}
        with np.load(p, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataError(f"{p} holds Python objects (pickles), which edgekit never loads; save plain numeric arrays") from None
        raise DataError(f"{p} is not a readable numpy file: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
        raise DataError(f"{p} is not a readable numpy file (truncated or corrupt?): {exc}") from None


def read_images(folder: str | os.PathLike, shape: Sequence[int], limit: int | None = None) -> np.ndarray:
    """Images under ``folder`` (recursively, sorted), resized to ``shape`` = (height, width, channels), as float32
    in [0, 1]. Models that expect another scaling should be given arrays instead."""
    files = sorted(f for f in Path(folder).rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {folder}")
    if limit:
        files = files[:limit]
    return np.stack([read_image(f, shape) for f in files])


def read_image(path: str | os.PathLike, shape: Sequence[int]) -> np.ndarray:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DependencyError("pillow", extra="runtime") from None  # images feed models on the device too
    height, width, channels = (int(s) for s in shape)
    if channels not in (1, 3, 4):
        raise DataError(f"images can feed an input with 1, 3 or 4 channels; this input has shape {tuple(shape)}")
    limit = limits.current().max_image_pixels
    too_big = (f"past the {limit:,}-pixel limit (a decompression bomb?); raise it with edgekit --max-image-pixels N "
               "if you trust it")
    try:
        with Image.open(path) as img:
            if img.width * img.height > limit:
                raise DataError(f"{path} is a {img.width}x{img.height} image, {too_big}")
            img = img.convert({1: "L", 3: "RGB", 4: "RGBA"}[channels]).resize((width, height), Image.BILINEAR)
            array = np.asarray(img, dtype=np.float32) / 255.0
    except Image.DecompressionBombError:  # Pillow's own cap (179 MP), checked while opening: above any limit
        raise DataError(f"{path} declares more pixels than Pillow decodes at all, {too_big}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path} is not a readable image: {exc}") from None
    return array.reshape(height, width, channels)


def check_input(array: np.ndarray, shape: Sequence[int | None], name: str, source: str) -> np.ndarray:
    """``array`` as float32 if it fits an input of ``shape`` (batch first, None = any), else a DataError."""
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise DataError(f"{source}: input {name!r} must be real numbers; got dtype {array.dtype}")
    want = tuple(shape)
    if array.ndim != len(want) or any(w is not None and w != g for w, g in zip(want[1:], array.shape[1:])):
        expected = "(N, " + ", ".join("?" if s is None else str(s) for s in want[1:]) + ")"
        raise DataError(f"{source}: input {name!r} expects shape {expected}; got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise DataError(f"{source}: input {name!r} contains NaN or infinite values")
    return array.astype(np.float32, copy=False)


def model_inputs(
    source: str | os.PathLike | np.ndarray | Sequence[np.ndarray] | dict,
    input_specs: Sequence[tuple[str, tuple]],
    keys: Sequence[str] = ("x", "x_val", "x_test", "x_train"),
) -> list[np.ndarray]:
    """Arrays for a model's inputs from a path (.npz, .npy, image folder) or arrays, checked against the specs.

    ``input_specs`` is ``[(name, shape), ...]`` with batch first. An ``.npz`` supplies each input by its name, or a
    single-input model by the first of ``keys`` present (or its only array).
    """
    label = str(source) if isinstance(source, (str, os.PathLike)) else "data"
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if p.is_dir():
            if len(input_specs) != 1 or len(input_specs[0][1]) != 4:
                raise DataError(f"{p}: an image folder can feed a model with one image input (N, H, W, C)")
            arrays: list[np.ndarray] | dict = [read_images(p, input_specs[0][1][1:])]
        else:
            arrays = read_arrays(p)
    elif isinstance(source, np.ndarray):
        arrays = [source]
    else:
        arrays = source if isinstance(source, dict) else list(source)
    if isinstance(arrays, dict):
        named = [arrays.get(name) for name, _ in input_specs]
        if all(a is not None for a in named):
            picked = named
        elif len(input_specs) == 1:
            key = next((k for k in keys if k in arrays), None)
            if key is None and len(arrays) == 1:
                key = next(iter(arrays))
            if key is None:
                raise DataError(
                    f"{label}: cannot tell which array feeds input {input_specs[0][0]!r}; "
                    f"name it {input_specs[0][0]!r} or one of {', '.join(keys)} (found: {', '.join(arrays)})"
                )
            picked = [arrays[key]]
        else:
            missing = [name for (name, _), a in zip(input_specs, named) if a is None]
            raise DataError(f"{label}: no array for input(s) {', '.join(missing)}; name the arrays after the inputs")
    else:
        picked = arrays
    if len(picked) != len(input_specs):
        raise DataError(f"{label}: the model has {len(input_specs)} input(s); got {len(picked)} array(s)")
    checked = [check_input(np.asarray(a), shape, name, label) for a, (name, shape) in zip(picked, input_specs)]
    counts = {len(a) for a in checked}
    if len(counts) != 1:
        raise DataError(f"{label}: the input arrays have different numbers of samples: {sorted(counts)}")
    if counts == {0}:
        raise DataError(f"{label}: the data holds 0 samples; give at least one")
    return checked


def random_inputs(input_specs: Sequence[tuple[str, tuple]], count: int = 64, seed: int = 0) -> list[np.ndarray]:
    """Seeded uniform [0, 1) inputs: synthetic data for parity checks or explicit ``--calibration random``."""
    rng = np.random.default_rng(seed)
    return [rng.random((count, *[1 if s is None else s for s in shape[1:]]), dtype=np.float32) for _, shape in input_specs]
