"""What an optimization costs, measured with numpy only (no TensorFlow), so the pipeline and a device can reuse it.

- Classifiers (outputs of shape (N, C), C >= 2, with integer labels in [0, C) or one-hot labels): top-1, top-5
  when C > 5, macro precision/recall/F1 (F1 per class is the harmonic mean of that class's precision and
  recall, then averaged over the classes present in the labels or the predictions, as scikit-learn's
  ``average="macro"`` with ``zero_division=0``), and top-1 agreement with a reference model's outputs.
- Anything else (no labels, regression, detection heads): fidelity to a reference model's outputs: max and mean
  absolute error, cosine similarity and signal-to-noise ratio in dB; for (N, C) class scores without labels also
  the top-1 agreement with the reference (teacher-student agreement).

ROC-AUC is not computed: it needs scores per class, and a hard-label AUC would be a different (wrong) figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit.errors import DataError
from edgekit.metrics import compare_outputs, top1_agreement

if TYPE_CHECKING:
    from edgekit.measurement import ClassDamage


@dataclass(frozen=True)
class Metrics:
    """Figures for one model on one held-out set. Fields that do not apply are ``None``."""

    task: str  # "classification" or "fidelity"
    samples: int
    top1: float | None = None
    top5: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    agreement: float | None = None  # top-1 agreement with the reference model
    max_abs_error: float | None = None
    mean_abs_error: float | None = None
    cosine: float | None = None
    snr_db: float | None = None
    per_class: PerClass | None = None  # classifiers: per-class P/R/F1 and the confusion matrix


def sparse_labels(labels: Any, classes: int) -> np.ndarray | None:
    """Integer class labels from ``labels`` (integers or one-hot / probability rows), or None if they are not
    class labels for a ``classes``-way output."""
    y = np.asarray(labels)
    if y.ndim == 2 and y.shape[1] == classes and classes >= 2:
        return y.argmax(axis=1).astype(np.int64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.dtype.kind not in "iuf" or y.size == 0:
        return None
    if y.dtype.kind == "f" and not np.all(np.equal(np.mod(y, 1), 0)):
        return None
    return y.astype(np.int64)


def is_classification(outputs: np.ndarray, labels: Any | None) -> bool:
    """A classifier: one (N, C) output with C >= 2 and labels that are class indices (or one-hot) in range."""
    out = np.asarray(outputs)
    if labels is None or out.ndim != 2 or out.shape[1] < 2:
        return False
    y = sparse_labels(labels, out.shape[1])
    return y is not None and len(y) == len(out) and int(y.min()) >= 0 and int(y.max()) < out.shape[1]


def classification_metrics(scores: np.ndarray, labels: Any, reference: np.ndarray | None = None) -> Metrics:
    scores = np.asarray(scores, dtype=np.float64)
    classes = scores.shape[1]
    y = sparse_labels(labels, classes)
    if y is None or len(y) != len(scores):
        raise DataError(f"labels of shape {np.shape(labels)} do not match {len(scores)} outputs of {classes} classes")
    pred = scores.argmax(axis=1)
    top5 = None
    if classes > 5:
        top = np.argpartition(-scores, 5, axis=1)[:, :5]
        top5 = float(np.mean(np.any(top == y[:, None], axis=1)))
    precision, recall, f1 = macro_prf(y, pred)
    agreement = None
    if reference is not None:
        agreement = top1_agreement(np.asarray(reference), scores)
    return Metrics("classification", len(y), top1=float(np.mean(pred == y)), top5=top5, precision=precision,
                   recall=recall, f1=f1, agreement=agreement, per_class=per_class(y, pred, classes))


def macro_prf(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float, float]:
    """Macro-averaged precision, recall and F1 over the classes seen in ``y_true`` or ``y_pred``."""
    y_true = np.asarray(y_true).astype(np.int64)
    y_pred = np.asarray(y_pred).astype(np.int64)
    seen = np.union1d(y_true, y_pred)
    per = per_class(y_true, y_pred, int(seen.max()) + 1 if seen.size else 0)
    return tuple(float(np.mean(np.asarray(v)[seen])) for v in (per.precision, per.recall, per.f1))


@dataclass(frozen=True)
class PerClass:
    """Per-class precision, recall, F1 and support (classes 0..C-1), and the confusion matrix
    (``confusion[true][predicted]``), as scikit-learn's ``classification_report``/``confusion_matrix`` with
    ``zero_division=0``."""

    precision: tuple[float, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    support: tuple[int, ...]
    confusion: tuple[tuple[int, ...], ...]


def per_class(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> PerClass:
    y_true = np.asarray(y_true).astype(np.int64)
    y_pred = np.asarray(y_pred).astype(np.int64)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    tp = np.diag(confusion).astype(np.float64)
    predicted, actual = confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros(classes), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros(classes), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(classes), where=denom > 0)
    return PerClass(tuple(map(float, precision)), tuple(map(float, recall)), tuple(map(float, f1)),
                    tuple(int(a) for a in actual), tuple(tuple(int(v) for v in row) for row in confusion))


def most_damaged(original: PerClass, variant: PerClass, count: int = 3) -> tuple[ClassDamage, ...]:
    """The classes whose F1 fell most from ``original`` to ``variant`` (only those that fell), worst first."""
    from edgekit.measurement import ClassDamage

    drops = [(o - v, c) for c, (o, v) in enumerate(zip(original.f1, variant.f1)) if o - v > 1e-12]
    return tuple(ClassDamage(c, original.f1[c], variant.f1[c], d) for d, c in sorted(drops, key=lambda t: (-t[0], t[1]))[:count])


def fidelity_metrics(outputs: np.ndarray, reference: np.ndarray) -> Metrics:
    out = np.asarray(outputs, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if out.shape != ref.shape:
        raise DataError(f"outputs of shape {out.shape} cannot be compared with reference outputs of shape {ref.shape}")
    m = compare_outputs(ref, out, ("max_abs_error", "mean_abs_error", "cosine", "snr_db", "top1_agreement"))
    return Metrics("fidelity", len(out), agreement=m.pop("top1_agreement"), **m)


def unusable_labels(labels: Any, classes: int) -> str | None:
    """Why held-out labels cannot rank variants (one class, or fewer than 2 samples of a class: every variant
    scores the same), or None when they can."""
    y = sparse_labels(labels, classes)
    if y is None:
        return None
    values, counts = np.unique(y, return_counts=True)
    if len(values) < 2:
        return f"the held-out labels hold a single class ({int(values[0])}) in {len(y)} samples"
    if counts.min() < 2:
        rare = [int(v) for v, n in zip(values, counts) if n < 2]
        return f"the held-out labels have fewer than 2 samples of class(es) {', '.join(map(str, rare[:10]))}"
    return None


def evaluate_outputs(outputs: Any, labels: Any | None = None, reference: Any | None = None) -> Metrics:
    """Metrics for ``outputs`` (one array, or a dict/list of arrays for multi-output models): classification
    metrics when the output and labels say so, fidelity to ``reference`` otherwise."""
    out = _single(outputs)
    ref = _single(reference) if reference is not None else None
    if is_classification(out, labels):
        metrics = classification_metrics(out, labels, ref)
        if ref is None or np.shape(ref) != out.shape:
            return metrics
        fidelity = fidelity_metrics(out, ref)
        return replace(metrics, max_abs_error=fidelity.max_abs_error, mean_abs_error=fidelity.mean_abs_error,
                       cosine=fidelity.cosine, snr_db=fidelity.snr_db)
    if ref is None:
        raise DataError(
            "cannot measure this model: its outputs are not a classifier's (N, classes) scores matching the labels, "
            "and no reference outputs were given for a fidelity comparison"
        )
    if isinstance(outputs, (dict, list, tuple)):
        out = _flat(outputs)
        ref = _flat(reference)
    return fidelity_metrics(out, ref)


def _single(outputs: Any) -> np.ndarray:
    if isinstance(outputs, dict):
        values = list(outputs.values())
        return np.asarray(values[0]) if len(values) == 1 else _flat(values)
    if isinstance(outputs, (list, tuple)):
        return np.asarray(outputs[0]) if len(outputs) == 1 else _flat(outputs)
    return np.asarray(outputs)


def _flat(outputs: Any) -> np.ndarray:
    values = list(outputs.values()) if isinstance(outputs, dict) else list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    return np.concatenate([np.asarray(v, dtype=np.float64).reshape(len(np.asarray(v)), -1) for v in values], axis=1)


# ---- weights -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeightStats:
    """One weight tensor: how many values, how many are zero, how many distinct values."""

    name: str
    layer: str
    op: str  # Keras class name or TFLite op name
    dtype: str
    count: int
    nonzero: int
    unique: int
    unique_per_channel: int | None = None  # max over output channels, for per-channel quantized tensors
    sparsity: float = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "sparsity", 1.0 - self.nonzero / self.count if self.count else 0.0)


def tensor_stats(name: str, layer: str, op: str, values: np.ndarray, zero_point: Any = 0, channel_axis: int | None = None) -> WeightStats:
    """Stats of one tensor; ``zero_point`` is the integer that means 0.0 for a quantized tensor (per channel or
    one for all), so sparsity is counted in the real-valued domain."""
    v = np.asarray(values)
    zp = np.asarray(zero_point)
    if zp.ndim == 1 and zp.size > 1 and channel_axis is not None:
        shape = [1] * v.ndim
        shape[channel_axis] = zp.size
        zp = zp.reshape(shape)
    elif zp.size:
        zp = zp.reshape(-1)[0]
    nonzero = int(np.count_nonzero(v != zp))
    per_channel = None
    if channel_axis is not None and v.ndim > 1:
        moved = np.moveaxis(v, channel_axis, 0).reshape(v.shape[channel_axis], -1)
        per_channel = max(len(np.unique(row)) for row in moved) if len(moved) else 0
    return WeightStats(name, layer, op, str(v.dtype), int(v.size), nonzero, int(len(np.unique(v))), per_channel)


def size_summary(stats: list[WeightStats]) -> dict:
    count = sum(s.count for s in stats)
    nonzero = sum(s.nonzero for s in stats)
    return {"weights": count, "nonzero": nonzero, "sparsity": 1.0 - nonzero / count if count else 0.0,
            "unique_max": max((s.unique for s in stats), default=0)}
