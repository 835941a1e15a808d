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


def from_interleaved(info: dict) -> tuple[dict[str, Latency], LatencyRun]:
    """Each artifact's :class:`Latency` and the :class:`LatencyRun`, from an interleaved timing's dict
    (:class:`edgekit.device_bench.Interleaved`, here or from a device's ``edgekit bench --interleaved --json``)."""
    spreads = {s["name"]: Latency(s["median_ms"], s["p25_ms"], s["p75_ms"], s["iqr_ms"], s["runs"], info["rounds"],
                                  s["ratio"], tuple(s["ratio_ci"]) if s["ratio_ci"] is not None else None, s["verdict"])
               for s in info["spreads"]}
    run = {k: info.get(k) for k in ("method", "rounds", "round_time_s", "threads", "min_effect", "load_average_before",
                                    "load_average_after", "cores", "cpu_share", "busy")}
    return spreads, LatencyRun(baseline_artifact=info["baseline"], **run)


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
class OnDevice:
    """One device's figures for an artifact (``edgekit optimize --device``, over SSH: :mod:`edgekit.devices`)."""

    device: str  # its name in the inventory (results.json's ``devices`` says how it ran)
    latency_ms: Latency | None = None  # interleaved with the baseline on the device
    load_ms: float | None = None
    peak_rss_bytes: int | None = None
    energy: tuple[EnergyEstimate, ...] = ()  # time × the device's profile, or its sensor
    accelerator: str | None = None  # what ran the timed runs there
    metrics: Metrics | None = None  # --device-accuracy: the held-out data run through the device's runtime
    transfer: DeviceRun | None = None  # the artifact's copy there (SHA-256, remote path) and what pushing it cost
    failure: str | None = None  # why the device cannot run it (its runtime lacks an op or a backend): never shipped there


@dataclass(frozen=True)
class Measurement:
    """Figures of one artifact: quality on the evaluation set, weights and size (here), and speed: on this machine,
    or on each device in ``devices`` (then this machine times nothing)."""

    metrics: Metrics  # accuracy (classifiers) or fidelity to the original model, run through edgekit.runtime
    weights: tuple[WeightStats, ...] = ()  # the weight tensors the artifact ships (.tflite), per tensor
    params: int | None = None  # parameters counted in the artifact's graph (BatchNormalization folded: fewer)
    macs: int | None = None  # multiply-accumulates per inference
    bytes_by_dtype: dict[str, int] = field(default_factory=dict)
    latency_ms: Latency | None = None  # None: latency not measured
    load_ms: float | None = None
    peak_rss_bytes: int | None = None
    energy: tuple[EnergyEstimate, ...] = ()
    accelerator: str | None = None  # what ran the timed runs
    latency_note: str | None = None  # e.g. measured on this CPU, not the requested accelerator
    robustness: tuple[Robustness, ...] = ()  # accuracy under seeded perturbations and transferred attacks
    robustness_drop: float | None = None  # mean accuracy lost against the original under the same perturbations
    damaged_classes: tuple[ClassDamage, ...] = ()  # the classes whose F1 fell most against the original
    download: DownloadBytes | None = None  # gzip / zstd, and deltas from --baseline
    devices: tuple[OnDevice, ...] = ()  # --device: each device's own figures, in the order the devices were given

    def on(self, device: str) -> OnDevice | None:
        """The figures ``device`` measured, or None."""
        return next((d for d in self.devices if d.device == device), None)
