"""The MAC and parameter counter against the papers: MobileNetV2 1.0/224 ≈ 300 M MACs and 3.4 M parameters
(Sandler et al. 2018, table 3), MobileNetV1 1.0/224 ≈ 569 M MACs and 4.2 M parameters (Howard et al. 2017,
table 8). Built with weights=None (no download) and converted once per session, in two processes (~25 s): marked slow."""

from __future__ import annotations

import pytest

from edgekit.device_bench import model_stats

pytestmark = pytest.mark.slow


_CONVERT = """
import sys
from edgekit._tf import tf, tf_keras
model = getattr(tf_keras().applications, sys.argv[1])(weights=None, input_shape=(224, 224, 3), alpha=1.0)
open(sys.argv[2], "wb").write(tf().lite.TFLiteConverter.from_keras_model(model).convert())
"""


@pytest.fixture(scope="session")
def mobilenets(tmp_path_factory):
    """Both converted at once, each in its own process (the converter keeps one core busy; CI has two)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path_factory.mktemp("mobilenets")
    paths = {"v2": out / "mobilenet_v2.tflite", "v1": out / "mobilenet_v1.tflite"}
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    jobs = [subprocess.Popen([sys.executable, "-c", _CONVERT, builder, str(paths[name])], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for name, builder in (("v2", "MobileNetV2"), ("v1", "MobileNet"))]
    for job in jobs:
        _, err = job.communicate(timeout=600)
        assert job.returncode == 0, err[-2000:]
    return paths


def test_mobilenet_v2_matches_paper(mobilenets):
    s = model_stats(mobilenets["v2"])
    assert s.macs == pytest.approx(300e6, rel=0.01)  # 300.77 M: conv + depthwise + FC
    assert s.params == pytest.approx(3.4e6, rel=0.03)  # 3.47 M: BN folded into conv biases
    assert set(s.macs_by_op) == {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    assert s.macs_by_op["FULLY_CONNECTED"] == 1280 * 1000


def test_mobilenet_v1_matches_paper(mobilenets):
    s = model_stats(mobilenets["v1"])
    assert s.macs == pytest.approx(569e6, rel=0.01)  # 568.74 M
    assert s.params == pytest.approx(4.2e6, rel=0.02)  # 4.21 M
    # the paper's table 2: 1x1 convolutions are ~95% of the MACs
    pointwise = s.macs_by_op["CONV_2D"] - 112 * 112 * 32 * 3 * 3 * 3  # minus the first 3x3 full conv
    assert pointwise / s.macs == pytest.approx(0.95, abs=0.01)
