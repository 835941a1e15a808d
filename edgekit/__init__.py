"""edgekit: make a trained Keras model fit an edge device.

The verbs live in subpackages (``edgekit.convert``, ``edgekit.optimize``, ``edgekit.runtime``,
``edgekit.device_bench``); importing ``edgekit`` itself imports none of the heavy frameworks.
"""

from edgekit.errors import (
    AcceleratorError,
    BridgeError,
    ConversionError,
    DataError,
    DependencyError,
    EdgekitError,
    ModelLoadError,
    OptimizeError,
    ParityError,
    RecipeError,
    TflmError,
    UnsafeModelError,
)

__version__ = "0.1.0"

__all__ = [
    "AcceleratorError",
    "BridgeError",
    "ConversionError",
    "DataError",
    "DependencyError",
    "EdgekitError",
    "ModelLoadError",
    "OptimizeError",
    "ParityError",
    "RecipeError",
    "TflmError",
    "UnsafeModelError",
    "__version__",
]
