"""Metrics (numpy only) against scikit-learn, and the .tflite weight reader."""

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from edgekit.errors import DataError
from edgekit.optimize import classification_metrics, evaluate_outputs, fidelity_metrics, is_classification, macro_prf
from edgekit.optimize.metrics import tensor_stats


def test_macro_prf_matches_sklearn_including_missing_classes():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 7, 500)
    y_pred = np.where(rng.random(500) < 0.6, y_true, rng.integers(0, 9, 500))  # predicts classes 7, 8 never true
    p, r, f = macro_prf(y_true, y_pred)
    kw = {"average": "macro", "zero_division": 0, "labels": np.union1d(y_true, y_pred)}
    assert p == pytest.approx(precision_score(y_true, y_pred, **kw))
    assert r == pytest.approx(recall_score(y_true, y_pred, **kw))
    assert f == pytest.approx(f1_score(y_true, y_pred, **kw))
    assert f != pytest.approx(2 * p * r / (p + r))  # macro F1 averages per-class F1, not F1 of the averages


def test_classification_metrics_top1_top5_agreement():
    scores = np.array([[0.1, 0.7, 0.2, 0, 0, 0, 0], [0.5, 0.1, 0.4, 0, 0, 0, 0], [0, 0, 0.1, 0.2, 0.3, 0.15, 0.25]])
    labels = np.array([1, 2, 0])
    m = classification_metrics(scores, labels, reference=np.eye(7)[[1, 0, 6]])
    assert m.top1 == pytest.approx(1 / 3)
    assert m.top5 == pytest.approx(2 / 3)  # class 0 is the 7th score of sample 3: not in its top 5
    assert m.agreement == pytest.approx(2 / 3)
    assert classification_metrics(scores[:, :4] + 0, labels).top5 is None  # 4 classes: top-5 does not apply
    one_hot = classification_metrics(scores, np.eye(7)[labels])
    assert one_hot.top1 == m.top1


def test_fidelity_and_detection():
    ref = np.linspace(-1, 1, 40).reshape(4, 10)
    m = fidelity_metrics(ref + 0.01, ref)
    assert m.max_abs_error == pytest.approx(0.01) and m.mean_abs_error == pytest.approx(0.01)
    assert m.snr_db == pytest.approx(10 * math.log10(np.sum(ref**2) / (40 * 1e-4)))
    assert 0.99 < m.cosine <= 1.0
    assert fidelity_metrics(ref, ref).snr_db == math.inf
    assert not is_classification(ref[:, :1], np.zeros(4))  # one output column: not a classifier
    assert not is_classification(ref, np.array([0, 1, 2, 12]))  # label 12 out of range for 10 outputs
    assert evaluate_outputs(ref, None, ref + 0.5).task == "fidelity"
    with pytest.raises(DataError, match="no reference outputs"):
        evaluate_outputs(ref[:, :1], None)


def test_tensor_stats_counts_zero_in_real_domain():
    q = np.array([[3, 3, 5, 7], [-2, 0, 0, 4]], dtype=np.int8)
    s = tensor_stats("w", "fc", "FULLY_CONNECTED", q, zero_point=np.array([3, 0]), channel_axis=0)
    assert s.nonzero == 4 and s.sparsity == pytest.approx(0.5)
    assert s.unique == 6 and s.unique_per_channel == 3
