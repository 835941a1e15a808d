"""Tensor specs and the float <-> integer mapping of quantized tensors.

Kept free of numpy at import time (``import edgekit.runtime`` stays as cheap as importing LiteRT itself);
the helpers import it when called.
"""

from __future__ import annotations

from collections import namedtuple

QUANTIZED_DTYPES = ("int8", "uint8", "int16")

_TensorSpec = namedtuple("TensorSpec", "name shape dtype quantization", defaults=(None,))


class TensorSpec(_TensorSpec):  # a named tuple, not a dataclass: `import edgekit.runtime` stays ~1 ms
    """One model input or output (immutable).

    ``shape`` has ``None`` for dynamic dimensions (a batch dimension the model can be resized along, or an ONNX
    symbolic dimension). ``dtype`` is the numpy dtype name of the tensor inside the model. ``quantization`` is
    ``(scale, zero_point)`` for per-tensor quantized integer tensors, else ``None``: the real value of an integer
    ``q`` is ``scale * (q - zero_point)``.
    """

    __slots__ = ()

    @property
    def quantized(self) -> bool:
        return self.quantization is not None

    @property
    def rank(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        dims = ", ".join("batch" if i == 0 and d is None else ("?" if d is None else str(d))
                         for i, d in enumerate(self.shape))
        text = f"{self.name}: {self.dtype}[{dims}]"
        if self.quantization:
            scale, zero = self.quantization
            text += f" (quantized: scale={scale:.6g}, zero_point={zero})"
        return text


def quantize(x, spec: TensorSpec):
    """Float values -> the integers ``spec`` stores: round(x / scale) + zero_point, saturated to the dtype."""
    import numpy as np

    scale, zero = spec.quantization
    info = np.iinfo(spec.dtype)
    q = np.rint(np.asarray(x, dtype=np.float32) / np.float32(scale))
    q += zero
    np.clip(q, info.min, info.max, out=q)
    return q.astype(spec.dtype)


def dequantize(q, spec: TensorSpec):
    """Stored integers -> float32 values: scale * (q - zero_point)."""
    import numpy as np

    scale, zero = spec.quantization
    out = np.asarray(q).astype(np.float32)
    out -= np.float32(zero)
    out *= np.float32(scale)
    return out


def format_specs(specs) -> str:
    return "; ".join(str(s) for s in specs)
