"""What was measured on one shipped artifact: the figures the variant table, the ranking and the report use.

To add a measurement (per-class accuracy, robustness, download bytes, arena size, latency spread, ...): add an
optional field to :class:`Measurement` (default ``None`` or an empty tuple/dict, a typed dataclass where the value
has parts), fill it in :func:`edgekit.optimize.engine.measure` (or, for figures that need every artifact, in
:mod:`edgekit.optimize.pipeline`), and show it in the report if people should see it.
results.json, its JSON Schema (``edgekit/results.schema.json``, regenerate with ``python -m edgekit.results``) and
reading results back follow from the type. Numpy-free and TensorFlow-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgekit.device_bench.download import DownloadBytes
from edgekit.device_bench.energy import EnergyEstimate
from edgekit.devices.inventory import DeviceRun
from edgekit.optimize.metrics import Metrics, WeightStats


@dataclass(frozen=True)
class Latency:
    """Milliseconds per inference, measured interleaved with the baseline artifact in rounds
    (:mod:`edgekit.device_bench.interleaved`), and how it compares with the baseline."""

    p50: float  # median
    p25: float
    p75: float
    iqr: float
    runs: int
    rounds: int
    ratio: float | None = None  # this artifact's latency / the baseline's; None for the baseline
    ratio_ci95: tuple[float, float] | None = None  # 95 % bootstrap interval of ``ratio``
    verdict: str = "baseline"  # "baseline", "faster", "slower" or "tie" (no measurable difference)


@dataclass(frozen=True)
class LatencyRun:
    """How the latencies of one run were measured: interleaved rounds against one baseline artifact."""

    baseline_artifact: str  # variant/format
    method: str
    rounds: int
    round_time_s: float
    threads: int | None
    min_effect: float  # the smallest ratio change that is not a tie
    load_average_before: float | None  # 1-min load average
    load_average_after: float | None
    cores: int | None
    cpu_share: float | None  # process CPU time / (timed wall time x threads): below ~0.8, others took the CPU
    busy: str | None  # one line for the reader when the machine was busy
    device: DeviceRun | None = None  # the device the rounds ran on (edgekit.devices), when not this machine


@dataclass(frozen=True)
class Robustness:
    """Accuracy under one perturbation at one severity (:mod:`edgekit.optimize.robustness`)."""

    name: str  # gaussian_noise, brightness, contrast, fgsm, pgd
    severity: float  # a fraction of the data's range (contrast: the factor kept)
    accuracy: float
    agreement: float  # with the original model's predictions on the same perturbed inputs


@dataclass(frozen=True)
class ClassDamage:
    """A class whose F1 fell from the original to this artifact."""

    label: int
    f1_before: float
    f1_after: float
    f1_drop: float


@dataclass(frozen=True)
class Measurement:
    """Figures of one artifact on this machine: quality on the evaluation set, weights, size and speed."""

    metrics: Metrics  # accuracy (classifiers) or fidelity to the original model, run through edgekit.runtime
    weights: tuple[WeightStats, ...] = ()  # the weight tensors the artifact ships (.tflite), per tensor
    params: int | None = None  # parameters counted in the artifact
    macs: int | None = None  # multiply-accumulates per inference
    bytes_by_dtype: dict[str, int] = field(default_factory=dict)
    latency_ms: Latency | None = None  # None: latency not measured
    load_ms: float | None = None
    peak_rss_bytes: int | None = None
    energy: tuple[EnergyEstimate, ...] = ()
    accelerator: str | None = None  # what ran the timed runs
    latency_note: str | None = None  # e.g. measured on this CPU, not the requested accelerator
    device: DeviceRun | None = None  # the device that measured it (edgekit.devices), when not this machine
    robustness: tuple[Robustness, ...] = ()  # accuracy under seeded perturbations and transferred attacks
    robustness_drop: float | None = None  # mean accuracy lost against the original under the same perturbations
    damaged_classes: tuple[ClassDamage, ...] = ()  # the classes whose F1 fell most against the original
    download: DownloadBytes | None = None  # gzip / zstd, and deltas from --baseline
