"""Robustness of a shipped artifact: accuracy under seeded input perturbations, beside the original's.

The perturbed inputs are made once, from the held-out data and the float Keras model, and every artifact (the
original's included) is run on the same arrays through ``edgekit.runtime`` — what a deployed model meets does not
depend on which artifact it is:

- ``gaussian_noise``: additive Gaussian noise, σ a fraction of the data's range (max − min of the held-out inputs);
- ``brightness`` / ``contrast`` (image inputs, rank 4): a shift by a fraction of the range / a scaling towards each
  image's mean;
- ``fgsm`` / ``pgd``: adversarial examples crafted on the float Keras model (white-box: its gradients) and
  transferred to each artifact; ε a fraction of the range. FGSM is one signed-gradient step; PGD takes 10 steps of
  ε/4 projected back into the ε-ball. The few lines of gradient code below are used rather than
  adversarial-robustness-toolbox: ART's TensorFlowV2Classifier wants a Keras 3 / TF2 model and a loss object, and
  edgekit's models are tf-keras or Keras 3 alike; ``tf.GradientTape`` serves both.

Every perturbation is clipped to the data's range and seeded. Labels are needed for accuracy; agreement is with the
original model's predictions on the same perturbed inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from edgekit.measurement import Robustness

# name → severities (fractions of the data's range; contrast: the factor kept)
SEVERITIES: dict[str, tuple[float, ...]] = {
    "gaussian_noise": (0.1, 0.25, 0.5),
    "brightness": (0.2, 0.4),
    "contrast": (0.5, 0.25),
    "fgsm": (0.05, 0.1),
    "pgd": (0.1,),
}
IMAGE_ONLY = ("brightness", "contrast")
ATTACKS = ("fgsm", "pgd")
PGD_STEPS = 10
MAX_SAMPLES = 256


@dataclass(frozen=True)
class Perturbed:
    name: str
    severity: float
    x: np.ndarray
    labels: np.ndarray
    reference: np.ndarray  # the original Keras model's predicted classes on x


def perturbed_sets(model: Any, x: np.ndarray, y: np.ndarray, seed: int = 0, attacks: bool = True,
                   limit: int = MAX_SAMPLES) -> tuple[Perturbed, ...]:
    """The perturbed versions of (at most ``limit`` samples of) ``x`` for a single-input classifier ``model``;
    ``y``: integer class labels."""
    x = np.asarray(x, dtype=np.float32)[:limit]
    y = np.asarray(y).astype(np.int64)[:limit]
    lo, hi = float(x.min()), float(x.max())
    span = (hi - lo) or 1.0
    rng = np.random.default_rng(seed)
    sets: list[tuple[str, float, np.ndarray]] = []
    for name, severities in SEVERITIES.items():
        if name in IMAGE_ONLY and x.ndim != 4:
            continue
        if name in ATTACKS and not attacks:
            continue
        for s in severities:
            if name == "gaussian_noise":
                out = x + rng.normal(0.0, s * span, x.shape).astype(np.float32)
            elif name == "brightness":
                out = x + s * span
            elif name == "contrast":
                mean = x.mean(axis=(1, 2, 3), keepdims=True)
                out = mean + s * (x - mean)
            elif name == "fgsm":
                out = x + s * span * _gradient_sign(model, x, y)
            else:
                out = _pgd(model, x, y, s * span, lo, hi)
            sets.append((name, s, np.clip(out, lo, hi).astype(np.float32)))
    return tuple(Perturbed(name, s, arr, y, _classes(model, arr)) for name, s, arr in sets)


def measure_robustness(predict: Callable[[np.ndarray], Any], sets: Sequence[Perturbed]) -> tuple[Robustness, ...]:
    """Accuracy and agreement of ``predict`` (an artifact's float-in/float-out predict) on every perturbed set."""
    results = []
    for p in sets:
        pred = np.argmax(_first(predict(p.x)), axis=1)
        results.append(Robustness(p.name, p.severity, float(np.mean(pred == p.labels)), float(np.mean(pred == p.reference))))
    return tuple(results)


def robustness_drop(original: Sequence[Robustness], variant: Sequence[Robustness]) -> float | None:
    """Mean accuracy lost against the original over every perturbation and severity (points of accuracy, 0..1)."""
    base = {(r.name, r.severity): r.accuracy for r in original}
    drops = [base[(r.name, r.severity)] - r.accuracy for r in variant if (r.name, r.severity) in base]
    return float(np.mean(drops)) if drops else None


def _first(outputs: Any) -> np.ndarray:
    if isinstance(outputs, dict):
        outputs = next(iter(outputs.values()))
    if isinstance(outputs, (list, tuple)):
        outputs = outputs[0]
    return np.asarray(outputs)


def _classes(model: Any, x: np.ndarray) -> np.ndarray:
    return np.argmax(_first(model.predict(x, verbose=0)), axis=1)


def _gradient_sign(model: Any, x: np.ndarray, y: np.ndarray, batch: int = 64) -> np.ndarray:
    """sign(∂ loss / ∂ x) of the cross-entropy of ``model`` at ``x`` against ``y`` (outputs as probabilities or logits)."""
    from edgekit._tf import tf

    tf_ = tf()
    probabilities = _outputs_are_probabilities(model, x[:batch])
    signs = []
    for start in range(0, len(x), batch):
        xt = tf_.convert_to_tensor(x[start : start + batch])
        yt = tf_.convert_to_tensor(y[start : start + batch])
        with tf_.GradientTape() as tape:
            tape.watch(xt)
            out = model(xt, training=False)
            out = out[0] if isinstance(out, (list, tuple)) else out
            if probabilities:
                loss = -tf_.math.log(tf_.gather(out, yt, batch_dims=1) + 1e-12)
            else:
                loss = tf_.nn.sparse_softmax_cross_entropy_with_logits(labels=yt, logits=out)
        signs.append(np.sign(tape.gradient(loss, xt).numpy()))
    return np.concatenate(signs).astype(np.float32)


def _pgd(model: Any, x: np.ndarray, y: np.ndarray, eps: float, lo: float, hi: float) -> np.ndarray:
    adv = x.copy()
    for _ in range(PGD_STEPS):
        adv = adv + (eps / 4) * _gradient_sign(model, adv, y)
        adv = np.clip(np.clip(adv, x - eps, x + eps), lo, hi)
    return adv


def _outputs_are_probabilities(model: Any, x: np.ndarray) -> bool:
    out = _first(model.predict(x, verbose=0)).astype(np.float64)
    return bool(np.all(out >= 0) and np.allclose(out.sum(axis=1), 1.0, atol=1e-3))
