"""A converted artifact and the one write-then-verify path every converter goes through."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgekit._fs import atomic_path, file_size, gzip_size
from edgekit._json import to_json
from edgekit.convert import parity as parity_mod
from edgekit.convert.edgetpu import EdgeTpuReport
from edgekit.convert.mcu_report import McuReport
from edgekit.keras.source import Source
from edgekit.data import model_inputs
from edgekit.measurement import Measurement

PARITY_SAMPLES = 256


@dataclass(frozen=True)
class Artifact:
    path: str
    format: str  # "tflite", "onnx", "edgetpu" or "mcu"
    quantize: str  # the conversion's quantization mode
    io_dtype: str
    file_bytes: int
    gzip_bytes: int
    params: int  # parameters of the source model (its layers' weights, not tfmot's wrapper variables)
    calibration: str  # what calibrated an integer model: data, synthetic, quantization-aware training or none
    parity: parity_mod.Parity
    notes: tuple[str, ...] = ()
    edgetpu: EdgeTpuReport | None = None  # the Edge TPU target's pre-flight report
    mcu: McuReport | None = None  # the microcontroller target's TFLite Micro report
    measurement: Measurement | None = None  # what edgekit optimize measured on it (edgekit.results)

    def to_dict(self) -> dict:
        return to_json(self)


@dataclass
class ParityInputs:
    arrays: list[np.ndarray]
    label: str

    @classmethod
    def for_source(cls, source: Source, eval_data: Any = None, seed: int = 0, calibration: Any = None,
                   input_range: Any = None) -> "ParityInputs":
        """The user's inputs where given: ``eval_data``, else the ``calibration`` data (real inputs from the model's
        domain, not the synthetic 'random'); seeded random inputs only when there are none, drawn from each input's
        domain (:mod:`edgekit.convert.domain`; [0, 1) where nothing tells it). The label says which."""
        from edgekit.convert.domain import describe, domain_inputs, input_domains

        for data, what in ((eval_data, "evaluation data"), (calibration, "calibration data")):
            if data is None or (isinstance(data, str) and data == "random"):
                continue
            arrays = [a[:PARITY_SAMPLES] for a in model_inputs(data, source.input_specs)]
            where = f" {data}" if isinstance(data, (str, os.PathLike)) else ""
            return cls(arrays, f"{what}{where} ({len(arrays[0])} samples)")
        domains = input_domains(source, input_range)
        arrays = domain_inputs(source.input_specs, domains, count=64, seed=seed)
        return cls(arrays, f"seeded random ({len(arrays[0])} samples: {describe(source.input_specs, domains)})")


def write_verified(
    source: Source,
    output: str | os.PathLike,
    write: Callable[[Path], None],
    inputs: ParityInputs,
    tolerance: float | None,
    what: str,
    quantized: bool = False,
    allow_low_parity: bool = False,
) -> parity_mod.Parity:
    """Write the artifact to a temporary beside ``output`` with ``write``, measure parity against the source
    through ``edgekit.runtime``, and move it into place only if parity holds: within ``tolerance``, and for a
    ``quantized`` artifact above the collapse bounds (unless ``allow_low_parity``)."""
    from edgekit import runtime

    reference = source.predict(inputs.arrays)
    with atomic_path(output) as tmp:
        write(tmp)
        with runtime.load(tmp) as model:
            result = model.predict(_feed(model, source, inputs.arrays))
        candidate = parity_mod.artifact_outputs(result, source.output_names)
        measured = parity_mod.measure_parity(reference, candidate, inputs.label, tolerance)
        if quantized:
            measured = replace(measured, min_agreement=parity_mod.MIN_AGREEMENT, min_snr_db=parity_mod.MIN_SNR_DB)
        parity_mod.check(measured, what, allow_low_parity)
    return measured


def _feed(model: Any, source: Source, arrays: list[np.ndarray]) -> Any:
    """The inputs by name when the artifact's input names are the source's (a converter may order a signature's
    inputs by name, not as the Keras model does), else by position."""
    if len(arrays) == 1:
        return arrays[0]
    names = [name for name, _ in source.input_specs]
    if {spec.name for spec in model.inputs} == set(names):
        return dict(zip(names, arrays))
    return arrays


def make_artifact(output: str | os.PathLike, source: Source, **fields_: Any) -> Artifact:
    p = Path(output)
    return Artifact(path=str(p), file_bytes=file_size(p), gzip_bytes=gzip_size(p), params=source.params, **fields_)
