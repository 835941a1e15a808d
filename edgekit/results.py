"""The typed result of ``edgekit optimize`` and of the single-technique commands, and results.json.

The data path as types: a :class:`~edgekit.recipe.Recipe` runs on the model and gives a :class:`Variant`, whose
:class:`~edgekit.convert.artifact.Artifact` s each carry a :class:`~edgekit.measurement.Measurement`; the variants,
the original model's figures and the ranking make the :class:`Results` that is written as results.json and read by
the report. JSON (de)serialisation is generic (:mod:`edgekit._json`), and the JSON Schema shipped in the package
(``results.schema.json``) is generated from these types: ``python -m edgekit.results > edgekit/results.schema.json``.

Paths in results.json are relative to the output folder, so a results folder can be moved or archived.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgekit._json import from_json, json_schema, to_json
from edgekit.convert.artifact import Artifact
from edgekit.convert.sensitivity import MixedSearch, Sensitivity
from edgekit.device_bench.conditions import Conditions
from edgekit.devices.inventory import Device, DeviceRun
from edgekit.errors import EdgekitError
from edgekit.measurement import LatencyRun, Robustness
from edgekit.optimize.metrics import Metrics
from edgekit.optimize.ranking import Constraints, Ranking
from edgekit.optimize.result import Optimization
from edgekit.recipe import Recipe
from edgekit.targets import accelerator

FORMAT_VERSION = 2
SCHEMA_PATH = Path(__file__).with_name("results.schema.json")
STATUSES = ("done", "skipped", "failed")


@dataclass(frozen=True)
class Settings:
    """How the variants were measured and ranked."""

    target: str = "cpu"  # the accelerator latency is measured on (edgekit.targets.ACCELERATORS)
    device_profile: str | None = None
    constraints: Constraints = Constraints()
    threads: int = 1
    bench_seconds: float = 0.5  # timed-run budget per artifact (after warm-up); 0: latency is not measured
    force: bool = False  # redo variants finished in an earlier run
    devices: tuple[Device, ...] = ()  # latency, memory and energy measured on these devices over SSH (edgekit.devices)
    device_accuracy: bool = False  # the held-out data also run through each device's runtime
    accept_new_host_key: bool = False
    robustness: bool = True  # accuracy under perturbations and transferred attacks (classifiers with labels)
    baseline: str | None = None  # the artifact devices run now: download bytes are also measured as a delta from it
    executor: str = "local"  # where the variants ran: local, ray or ray:ADDRESS (edgekit.optimize.executors)

    def __post_init__(self):
        accelerator(self.target)  # an unknown name is an error that lists the valid ones
        from edgekit.optimize.executors import check_executor

        check_executor(self.executor)
        if self.threads < 1:
            raise EdgekitError(f"threads must be at least 1, got {self.threads}")
        if self.bench_seconds < 0:
            raise EdgekitError(f"bench_seconds must not be negative, got {self.bench_seconds}")
        if self.baseline is not None and not Path(self.baseline).is_file():
            raise EdgekitError(f"--baseline {self.baseline} is not a file: give the artifact your devices run now")
        names = [d.name for d in self.devices]
        if len(set(names)) != len(names):
            raise EdgekitError(f"a device is named twice: {', '.join(names)}")
        if self.devices and self.target == "mcu":
            raise EdgekitError("--target mcu is measured with TFLite Micro on this machine; a device over SSH runs "
                               "LiteRT: drop --device")
        if self.device_accuracy and not self.devices:
            raise EdgekitError("--device-accuracy runs the held-out data on the devices: give --device NAME")
        if self.device_profile is not None:
            from edgekit.device_bench.energy import get_device_profile

            get_device_profile(self.device_profile)  # an unknown name fails here, listing the known ones

    def same_measurement(self, other: Settings | None) -> bool:
        """Would a variant measured under ``other`` be measured the same way under these settings? (The devices do
        not matter: a device's figures are kept per device, and the missing ones, or this machine's, are measured.)"""
        def key(s: Settings) -> tuple:
            return (s.threads, s.device_profile, s.target, s.robustness, s.baseline)

        return other is not None and key(self) == key(other)


@dataclass(frozen=True)
class Variant:
    """One recipe run on the model: what the techniques did, and the artifacts it shipped; or why it did not run."""

    name: str
    recipe: Recipe
    status: str  # one of STATUSES
    reason: str | None = None  # why it was skipped or failed
    artifacts: tuple[Artifact, ...] = ()  # each with its measurement
    optimization: Optimization | None = None  # None: no fine-tuning technique ran
    keras_model: str | None = None  # the optimized Keras model, when a technique changed it
    recipe_file: str | None = None  # the recipe and package versions, beside the artifacts
    settings: Settings | None = None  # what it was measured under (a re-run reuses it only if they match)
    notes: tuple[str, ...] = ()
    reused: bool = False  # finished in an earlier run with the same recipe and settings
    resolved_recipe: Recipe | None = None  # keep_float: auto made concrete by the search (the recipe file has it)
    mixed_precision: MixedSearch | None = None  # the keep-float search (its per-layer report: int8_sensitivity)
    int8_sensitivity: Sensitivity | None = None  # per Keras layer, for int8 variants

    def on_devices(self, names: list[str]) -> Variant:
        """This variant with the figures of the devices ``names`` only, in that order (its result.json keeps every
        device an earlier run measured)."""
        return replace(self, artifacts=tuple(replace(a, measurement=replace(a.measurement, devices=tuple(
            on for name in names for on in a.measurement.devices if on.device == name)))
            if a.measurement is not None else a for a in self.artifacts))

    def __post_init__(self):
        if self.status not in STATUSES:
            raise EdgekitError(f"variant status must be one of {', '.join(STATUSES)}; got {self.status!r}")


@dataclass(frozen=True)
class ModelInfo:
    """The model that was optimized, and how it was loaded (a Keras 3 file is bridged to tf-keras and verified)."""

    path: str
    name: str
    params: int
    keras: dict[str, Any] = field(default_factory=dict)  # the bridge verification (edgekit.keras.bridge.BridgeResult)


@dataclass(frozen=True)
class Original:
    """The original model's figures on the evaluation set: from the Keras model, or from its float32 .tflite
    (``artifact``, not kept) where it is measured like the variants."""

    metrics: Metrics
    artifact: Artifact | None = None
    robustness: tuple[Robustness, ...] = ()  # the Keras model under the perturbations every artifact meets


@dataclass(frozen=True)
class Execution:
    """Where the variants ran (``edgekit optimize --executor``); latency is measured on this machine or the
    --device, never on a node."""

    executor: str  # local or ray
    address: str | None = None  # the Ray cluster, or "local Ray started for this run"
    variants_per_node: dict[str, int] = field(default_factory=dict)  # Ray node id -> variants it ran


@dataclass(frozen=True)
class DeviceResults:
    """One device of ``edgekit optimize --device``: how its figures were taken, and what it recommends.

    Each artifact's figures from this device are in its measurement's ``devices``."""

    name: str
    run: DeviceRun | None = None  # where it is and how it was reached (the interleaved latency run's transfer)
    conditions: Conditions | None = None  # the device's CPU, governor, load and versions while it measured
    latency: LatencyRun | None = None  # how the device timed the artifacts (interleaved with one baseline)
    accuracy: bool = False  # quality measured through the device's runtime (--device-accuracy)
    ranking: Ranking | None = None  # ranked by this device's figures alone
    best: str | None = None  # with several devices: its recommendation, copied to best-NAME.*
    failure: str | None = None  # why this device has no figures (one line); a re-run measures it again
    reused: bool = False  # taken from an earlier run in the same OUTDIR


@dataclass(frozen=True)
class Results:
    """Everything one run measured, and what it recommends: the content of results.json."""

    edgekit_version: str
    created: str  # UTC, ISO 8601
    model: ModelInfo
    settings: Settings
    evaluated_on: str  # what the quality figures were measured on
    original: Original
    variants: tuple[Variant, ...]
    data: str | None = None  # the training / held-out data, described
    versions: dict[str, str] = field(default_factory=dict)
    conditions: Conditions | None = None  # the machine the latency figures were taken on
    latency: LatencyRun | None = None  # how the latencies were measured (interleaved with one baseline)
    warnings: tuple[str, ...] = ()  # what the reader must know about the figures (unusable labels, a busy machine)
    ranking: Ranking | None = None  # with devices: on every measured device's worst figures
    best: str | None = None  # the recommended artifact, copied to best.* (with best.recipe.yaml beside it)
    notes: tuple[str, ...] = ()
    execution: Execution | None = None
    devices: tuple[DeviceResults, ...] = ()  # --device: each device's run and ranking; ``ranking`` is every device's
    format_version: int = FORMAT_VERSION

    def measured(self) -> list[tuple[Variant, Artifact]]:
        """Every (variant, artifact) pair that has a measurement, in order."""
        return [(v, a) for v in self.variants for a in v.artifacts if a.measurement is not None]

    def artifact(self, name: str) -> tuple[Variant, Artifact]:
        """The artifact named ``variant/format`` (as in the ranking)."""
        found = [(v, a) for v, a in self.measured() if f"{v.name}/{a.format}" == name]
        if not found:
            raise EdgekitError(f"no artifact {name!r}; measured: {', '.join(f'{v.name}/{a.format}' for v, a in self.measured())}")
        return found[0]


def relative(path: str | os.PathLike | None, root: str | os.PathLike) -> str | None:
    """``path`` relative to ``root`` when it lies inside it, else as given."""
    if path is None:
        return None
    p, r = Path(path).resolve(), Path(root).resolve()
    return str(p.relative_to(r)) if p.is_relative_to(r) else str(path)


def relative_artifact(artifact: Artifact, root: str | os.PathLike) -> Artifact:
    edgetpu = artifact.edgetpu
    if edgetpu is not None and edgetpu.compiled_path:
        edgetpu = replace(edgetpu, compiled_path=relative(edgetpu.compiled_path, root))
    mcu = artifact.mcu
    if mcu is not None:
        mcu = replace(mcu, c_source=tuple(relative(p, root) for p in mcu.c_source))
    return replace(artifact, path=relative(artifact.path, root), edgetpu=edgetpu, mcu=mcu)


def dumps(results: Results) -> str:
    return json.dumps(to_json(results), indent=2)


def loads(text: str, source: str = "results") -> Results:
    """Results from results.json text; a file of another format version or shape is an error that says so."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EdgekitError(f"{source} is not JSON: {exc}") from None
    version = data.get("format_version") if isinstance(data, dict) else None
    if version != FORMAT_VERSION:
        raise EdgekitError(f"{source} has format_version {version!r}; this edgekit reads {FORMAT_VERSION} (re-run edgekit optimize)")
    return from_json(Results, data, source)


def load(path: str | os.PathLike) -> Results:
    return loads(Path(path).read_text(encoding="utf-8"), str(path))


def schema() -> dict:
    """The JSON Schema of results.json, generated from :class:`Results`."""
    out = json_schema(Results)
    out["$id"] = f"https://edgekit.dev/schemas/results-{FORMAT_VERSION}.json"
    out["title"] = "edgekit optimize results.json"
    return out


def validate(data: dict) -> None:
    """Check ``data`` (a parsed results.json) against the shipped schema; needs ``jsonschema`` (edgekit[test])."""
    try:
        import jsonschema
    except ImportError:
        from edgekit.errors import DependencyError

        raise DependencyError("jsonschema", "test") from None
    shipped = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    try:
        jsonschema.validate(data, shipped)
    except jsonschema.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "(top level)"
        raise EdgekitError(f"results.json does not match the schema at {where}: {exc.message}") from None


if __name__ == "__main__":  # the types as imported (not this __main__ copy) name the schema's definitions
    from edgekit.results import schema as results_schema

    print(json.dumps(results_schema(), indent=1, ensure_ascii=False))
