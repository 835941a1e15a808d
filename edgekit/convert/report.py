"""How converted artifacts are shown on the terminal."""

from __future__ import annotations

from typing import Sequence

from edgekit._table import fmt, human_bytes, render
from edgekit.convert.artifact import Artifact


def artifact_table(artifacts: Sequence[Artifact]) -> str:
    rows = []
    for a in artifacts:
        p = a.parity
        rows.append([
            a.path, a.format, a.quantize, a.io_dtype, human_bytes(a.file_bytes), human_bytes(a.gzip_bytes), a.params,
            p.max_abs, p.mean_abs, p.cosine, fmt(p.snr_db, 3) + " dB",
            "-" if p.top1_agreement is None else f"{100 * p.top1_agreement:.1f}%",
        ])
    lines = [render(
        ["artifact", "format", "quantize", "io", "size", "gzip", "params", "max|err|", "mean|err|", "cosine", "SNR", "top-1 agree"],
        rows,
    )]
    for a in artifacts:
        lines.append(f"{a.path}: parity on {a.parity.inputs}; calibration: {a.calibration}")
        lines.extend(f"  note: {n}" for n in a.notes)
        if a.edgetpu is not None:
            lines.append(f"  Edge TPU pre-flight: {a.edgetpu.summary()}")
            for op in a.edgetpu.ops:
                if not op.on_edgetpu:
                    lines.append(f"    op {op.index} {op.op}: CPU — {op.reason}")
            lines.append(f"  edgetpu_compiler: {a.edgetpu.compiler}")
        if a.mcu is not None:
            lines.extend(mcu_lines(a.mcu))
    return "\n".join(lines)


def mcu_lines(m) -> list[str]:
    """The microcontroller report: arena (with TFLM's breakdown), flash, ops, TFLM-vs-LiteRT parity, C source."""
    arena, p = m.arena, m.tflm_parity
    lines = [
        f"  TFLite Micro arena: {arena.bytes} B ({human_bytes(arena.bytes)}); {arena.fails_at_bytes} B is refused "
        f"(head {arena.head_bytes} B, tail {arena.tail_bytes} B, {arena.tries} tries)",
    ]
    lines.extend(f"    {x.what}: {x.used_bytes} B for {x.count}" for x in arena.allocations)
    lines.append(f"    note: {arena.note}")
    lines.append(f"  flash: {m.flash_bytes} B ({human_bytes(m.flash_bytes)}); {m.flash_note}")
    lines.append(f"  ops ({len(m.ops)}): {', '.join(m.ops)}")
    x = m.tflm_vs_xnnpack
    lines.append(f"  TFLM vs LiteRT built-in kernels on {p.inputs}: max {p.max_lsb} LSB (allowed 1), "
                 f"{100 * p.equal_fraction:.2f}% identical; vs LiteRT+XNNPACK: max {x.max_lsb} LSB, "
                 f"{100 * x.equal_fraction:.2f}% identical (XNNPACK rounds differently; not enforced)")
    if m.tflm_accuracy is not None:
        lines.append(f"  top-1 through TFLM: {100 * m.tflm_accuracy:.2f}% (LiteRT {100 * m.litert_accuracy:.2f}%)")
    if m.host_invoke_ms is not None:
        lines.append(f"  TFLM invoke on this host: {m.host_invoke_ms:.3f} ms (host, not the MCU)")
    lines.append(f"  C source: {m.c_source[0]}, {m.c_source[1]}")
    return lines
