"""What the microcontroller target measured on its artifact (the ``mcu`` field of an
:class:`~edgekit.convert.artifact.Artifact`): TFLite Micro's arena, flash bytes, ops and parity with LiteRT."""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.device_bench import tflm


@dataclass(frozen=True)
class TflmParity:
    """TFLM's int8 outputs against LiteRT's on the same int8 inputs."""

    samples: int
    inputs: str  # what the inputs were
    max_lsb: int  # largest |TFLM - LiteRT| over all int8 outputs
    equal_fraction: float  # share of output values that are identical


@dataclass(frozen=True)
class McuReport:
    arena: tflm.ArenaSize
    flash_bytes: int  # the model's bytes: what the array in NAME.cc puts in flash
    flash_note: str
    ops: tuple[str, ...]  # MicroMutableOpResolver methods, as the generated snippet registers them
    tflm_parity: TflmParity  # against LiteRT's built-in kernels (TFLite's reference semantics): at most MAX_LSB
    tflm_vs_xnnpack: TflmParity  # against LiteRT with XNNPACK (rounds differently; reported, not enforced)
    tflm_accuracy: float | None  # top-1 through TFLM when the evaluation data has labels
    litert_accuracy: float | None  # the same through LiteRT's built-in kernels, for comparison
    host_invoke_ms: float | None  # median TFLM invoke on this host (not an MCU figure)
    c_source: tuple[str, str]  # NAME.cc, NAME.h

    def summary(self) -> str:
        acc = "" if self.tflm_accuracy is None else f", top-1 through TFLM {100 * self.tflm_accuracy:.1f}%"
        return (f"arena {self.arena.bytes} B (TFLM refused {self.arena.fails_at_bytes} B), flash {self.flash_bytes} B, "
                f"{len(self.ops)} ops, TFLM vs LiteRT max {self.tflm_parity.max_lsb} LSB{acc}")
