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
    return "\n".join(lines)
