"""Convert a Keras model to a deployable artifact, with a parity check against the Keras model every time.

>>> from edgekit.convert import to_tflite, to_onnx, to_edgetpu
>>> to_tflite("model.h5", "model_int8.tflite", quantize="int8", calibration="data.npz")
"""

from edgekit.convert.artifact import Artifact
from edgekit.convert.edgetpu import EdgeTpuReport, to_edgetpu
from edgekit.convert.mcu import McuReport, to_mcu
from edgekit.convert.onnx import to_onnx
from edgekit.convert.parity import Parity
from edgekit.convert.targets import convert, convert_for_recipe, default_output
from edgekit.convert.tflite import to_tflite

__all__ = ["Artifact", "EdgeTpuReport", "McuReport", "Parity", "convert", "convert_for_recipe", "default_output", "to_edgetpu",
           "to_mcu", "to_onnx", "to_tflite"]
