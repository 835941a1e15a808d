"""``edgekit run``'s library side: load a model, read one input file, predict, summarise the outputs."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgekit.data import IMAGE_SUFFIXES, read_arrays, read_image
from edgekit.errors import DataError
from edgekit.runtime.model import Model, load


DEFAULT_TOP_K = 5


@dataclass
class OutputResult:
    name: str
    shape: tuple
    dtype: str
    values: list  # the output itself (nested lists), for small outputs; else empty
    top_k: list = field(default_factory=list)  # per batch item: [(class index, score), ...] for classifier outputs


@dataclass
class RunResult:
    model: str
    backend: str
    accelerator: str
    fully_delegated: bool | None
    threads: int | None
    input: str
    input_shape: tuple
    latency_ms: float  # the predict call, first run included (load excluded)
    load_ms: float
    outputs: list[OutputResult]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)


def read_input(model: Model, path: str | os.PathLike):
    """The input file as what ``model.predict`` takes: .npy (one input), .npz (inputs by name, or 'x'), an image."""
    p = Path(path)
    suffix = p.suffix.lower()
    specs = model.inputs
    if suffix in IMAGE_SUFFIXES:
        if len(specs) != 1 or specs[0].rank != 4:
            raise DataError(f"an image can feed a model with one (batch, height, width, channels) input; this "
                            f"model takes {', '.join(map(str, specs))}")
        if not p.is_file():
            raise DataError(f"input file {p} does not exist")
        _, height, width, channels = specs[0].shape
        if None in (height, width, channels):
            raise DataError(f"input {specs[0]} has dynamic image dimensions; give an .npy of the right shape")
        return read_image(p, (height, width, channels))[None]
    arrays = read_arrays(p)
    if len(specs) == 1:
        if len(arrays) == 1:
            x = next(iter(arrays.values()))
        elif specs[0].name in arrays or "x" in arrays:
            x = arrays.get(specs[0].name, arrays.get("x"))
        else:
            raise DataError(f"{p.name} holds {sorted(arrays)}; name the array {specs[0].name!r} or 'x'")
        return _batched(x, specs[0])
    missing = [s.name for s in specs if s.name not in arrays]
    if missing:
        raise DataError(f"{p.name} holds {sorted(arrays)}; the model takes {[s.name for s in specs]} "
                        f"(missing {missing}): save them with np.savez(path, name=array, ...)")
    return {s.name: _batched(arrays[s.name], s) for s in specs}


def _batched(x: np.ndarray, spec) -> np.ndarray:
    """One sample without its batch axis gets one (a convenience of the command line, not of Model.predict)."""
    return x[None] if x.ndim == spec.rank - 1 else x


def class_scores(array: np.ndarray) -> bool:
    """Whether an output reads as class probabilities: (batch, classes >= 2), every row non-negative and summing
    to 1 (a softmax; within 0.02 for quantized outputs). Regression outputs, embeddings and raw logits do not."""
    a = np.asarray(array, dtype=np.float64)
    return bool(a.ndim == 2 and a.shape[1] > 1 and a.size and a.min() >= -1e-6
                and np.all(np.abs(a.sum(axis=1) - 1.0) <= 0.02))


def _summary(name: str, array: np.ndarray, top_k: int | None) -> OutputResult:
    """``top_k`` None: top-5 for outputs that are class probabilities (:func:`class_scores`), values otherwise;
    a number: top-k for any (batch, n) output, as the user asked."""
    values = array.tolist() if array.size <= 64 else []
    tops = []
    if top_k is None:
        top_k = DEFAULT_TOP_K if class_scores(array) else 0
    if top_k and array.ndim == 2 and array.shape[1] > 1:  # (batch, classes): a classifier's scores
        k = min(top_k, array.shape[1])
        for row in array:
            best = np.argsort(-row, kind="stable")[:k]
            tops.append([(int(i), float(row[i])) for i in best])
    return OutputResult(name, tuple(array.shape), array.dtype.name, values, tops)


def _save(path: str | os.PathLike, arrays: list[np.ndarray]) -> None:
    from edgekit._fs import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, *arrays)


def run(model: str | os.PathLike, input: str | os.PathLike, accelerator: str = "cpu", threads: int | None = None,
        fallback: str | None = None, delegate: str | None = None, top_k: int | None = None, raw: bool = False,
        save_outputs: str | os.PathLike | None = None) -> RunResult:
    """Load ``model``, run it once on the input file, and summarise each output (top-k for classifiers).
    ``save_outputs``: also write every output, whole, to that .npz (``arr_0``, ``arr_1``, ... in the model's output
    order; the result names them)."""
    if save_outputs is not None and Path(save_outputs).suffix.lower() != ".npz":
        raise DataError(f"--save-outputs {save_outputs}: give a .npz file")
    start = time.perf_counter()
    with load(model, accelerator=accelerator, threads=threads, fallback=fallback, delegate=delegate) as m:
        load_ms = (time.perf_counter() - start) * 1e3
        x = read_input(m, input)
        start = time.perf_counter()
        y = m.predict(x, raw=raw)
        latency_ms = (time.perf_counter() - start) * 1e3
        outs = {m.outputs[0].name: y} if not isinstance(y, dict) else y
        shape = tuple(x.shape) if isinstance(x, np.ndarray) else tuple(next(iter(x.values())).shape)
        if save_outputs is not None:
            _save(save_outputs, [np.asarray(a) for a in outs.values()])
        return RunResult(model=str(model), backend=m.backend, accelerator=m.accelerator,
                         fully_delegated=m.fully_delegated, threads=m.threads, input=str(input), input_shape=shape,
                         latency_ms=round(latency_ms, 3), load_ms=round(load_ms, 3),
                         outputs=[_summary(n, np.asarray(a), top_k) for n, a in outs.items()], notes=m.notes)
