"""The one error hierarchy. Every message says what was given, what is allowed and how to fix it."""


class EdgekitError(Exception):
    """Base class: a problem the user can act on. The CLI prints it as one line and exits 1."""


class ModelLoadError(EdgekitError):
    """A model file that is missing, empty, truncated, of an unknown format or unreadable."""


class UnsafeModelError(ModelLoadError):
    """A model that would run code from the file (Lambda layers, custom objects) without --trust-model."""


class RecipeError(EdgekitError):
    """A recipe value or key that is not allowed."""


class DataError(EdgekitError):
    """Data (calibration, evaluation, training) that is missing or does not fit the model."""


class ConversionError(EdgekitError):
    """A converter (TFLite, tf2onnx, edgetpu_compiler) failed on this model."""


class ParityError(ConversionError):
    """A float conversion whose outputs differ from the Keras model by more than the tolerance."""


class BridgeError(EdgekitError):
    """A model the Keras 3 ↔ tf-keras bridge cannot rebuild on the other Keras, or a rebuild whose outputs differ."""

    def __init__(self, message: str, blockers: tuple[str, ...] = ()):
        super().__init__(message)
        self.blockers = blockers


class OptimizeError(EdgekitError):
    """A model or layer that a technique cannot be applied to, or a selection that makes no sense."""


class TflmError(ModelLoadError):
    """TensorFlow Lite Micro cannot allocate or run a model; ``ops`` are the (op index, op name) pairs it named and
    ``log`` what it printed."""

    def __init__(self, message: str, ops: tuple = (), log: str = ""):
        super().__init__(message)
        self.ops = tuple(ops)
        self.log = log


class AcceleratorError(EdgekitError):
    """An accelerator, delegate or execution provider that is not available here."""


class DependencyError(EdgekitError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, module: str, extra: str = "full"):
        self.module = module
        self.extra = extra
        super().__init__(f"{module} is not installed; install it with: pip install 'edgekit[{extra}]'")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every cleanup runs; the CLI exits 143 (128 + SIGTERM)."""


class DeviceError(EdgekitError):
    """A remote device that cannot be reached, verified, or run on; the message starts with ``device NAME:``."""

    def __init__(self, device: str, message: str):
        self.device = device
        self.detail = message
        super().__init__(f"device {device}: {message}")


class RemoteCommandError(DeviceError):
    """The device ran edgekit's command and it failed (a model it cannot run, say): the device itself is fine."""
