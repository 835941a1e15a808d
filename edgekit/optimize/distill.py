"""Fine-tuning by distillation: the original model teaches the optimized one, so fine-tuning needs only inputs.

Classifiers (one (N, C) output, C >= 2, softmax or linear): the loss is the KL divergence between the teacher's and
the student's outputs, both softened by ``temperature`` (and scaled by its square, as Hinton et al. do, so its
gradients do not shrink with the temperature). With labels it is ``distill_weight`` × that + (1 − distill_weight) ×
the task loss (cross-entropy). Any other output: mean squared error to the teacher's outputs (and to the targets
with the same weighting when there are any).

The teacher is fixed, so its outputs are computed once and packed beside the labels into the ``y`` that Keras'
``fit`` hands the loss: ``[teacher outputs | labels]`` along the last axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit._log import quiet_native
from edgekit._tf import tf

EPSILON = 1e-7  # clip probabilities before the log


@dataclass(frozen=True)
class Distillation:
    """How a model's outputs are distilled: as class scores (KL) or as values (MSE)."""

    classes: int  # output width: classes for KL, flattened output size for MSE
    kl: bool  # classifier outputs (KL on softened outputs) or anything else (MSE)
    probabilities: bool  # the model outputs probabilities (softmax), not logits
    labelled: bool
    temperature: float
    weight: float  # share of the distillation term when labelled

    def describe(self) -> str:
        term = f"KL on outputs softened at T={self.temperature:g}" if self.kl else "MSE to the original's outputs"
        if not self.labelled:
            return f"distillation from the original model ({term}; no labels)"
        task = "cross-entropy" if self.kl else "MSE to the targets"
        return f"distillation from the original model: {self.weight:g} × {term} + {1 - self.weight:g} × {task}"


def distillation_for(model, labels: np.ndarray | None, temperature: float, weight: float) -> Distillation:
    """The distillation that fits ``model``'s output (and ``labels``, when given)."""
    shape = tuple(model.outputs[0].shape.as_list())
    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    probabilities = activation == "softmax" or type(last).__name__ == "Softmax"
    kl = len(shape) == 2 and (shape[1] or 0) >= 2 and activation in ("softmax", "linear", "") and activation != "sigmoid"
    width = int(np.prod([d for d in shape[1:]], dtype=np.int64))
    return Distillation(width, kl, probabilities, labels is not None, float(temperature), float(weight))


def _scores(values: np.ndarray, spec: Distillation) -> np.ndarray:
    """Log-probabilities (from probabilities) or logits, as the teacher's part of the packed targets."""
    values = np.asarray(values, dtype=np.float32).reshape(len(values), -1)
    return np.log(np.clip(values, EPSILON, 1.0)) if spec.kl and spec.probabilities else values


def pack_targets(teacher, x: np.ndarray, labels: np.ndarray | None, spec: Distillation, batch_size: int = 256) -> np.ndarray:
    """``[teacher scores | labels]`` per sample: what the distillation loss reads as ``y_true``."""
    with quiet_native():
        outputs = teacher.predict(x, batch_size=batch_size, verbose=0)
    parts = [_scores(outputs[0] if isinstance(outputs, list) else outputs, spec)]
    if labels is not None:
        y = np.asarray(labels)
        if spec.kl:
            y = y.argmax(axis=1) if y.ndim == 2 and y.shape[1] == spec.classes else y.reshape(-1)
            parts.append(y.astype(np.float32).reshape(-1, 1))
        else:
            parts.append(y.astype(np.float32).reshape(len(y), -1))
    return np.concatenate(parts, axis=1)


def distillation_loss(spec: Distillation):
    """A Keras loss over packed targets (see :func:`pack_targets`)."""
    tfm = tf()
    n, t, w = spec.classes, spec.temperature, spec.weight

    def loss(y_true, y_pred):
        y_pred = tfm.reshape(y_pred, (tfm.shape(y_pred)[0], -1))
        teacher = y_true[:, :n]
        if not spec.kl:
            term = tfm.reduce_mean(tfm.square(y_pred - teacher), axis=-1)
            if spec.labelled:
                term = w * term + (1 - w) * tfm.reduce_mean(tfm.square(y_pred - y_true[:, n:]), axis=-1)
            return term
        student = tfm.math.log(tfm.clip_by_value(y_pred, EPSILON, 1.0)) if spec.probabilities else y_pred
        p_teacher = tfm.nn.softmax(teacher / t)
        kl = tfm.reduce_sum(p_teacher * (tfm.nn.log_softmax(teacher / t) - tfm.nn.log_softmax(student / t)), axis=-1) * t * t
        if not spec.labelled:
            return kl
        labels = tfm.cast(y_true[:, n], tfm.int32)
        task = tfm.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=student)
        return w * kl + (1 - w) * task

    loss.__name__ = "distillation"
    return loss
