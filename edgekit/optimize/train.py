"""Fine-tuning: the user's data, the model's own compile settings when it has them, edgekit's defaults otherwise.

Learning rate: the recipe's, else a tenth of the model's own optimizer's (fine-tuning a trained model; channel pruning,
which retrains a thinner network, takes the full rate), else 1e-4.
Training is seeded (``SEED``) so that a recipe reproduces its result. With ``train.distill`` (or, when it is unset,
with data that has no labels) the loss is distillation from the original model (:mod:`edgekit.optimize.distill`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgekit._log import quiet_native
from edgekit._tf import tf_keras
from edgekit.errors import DataError, RecipeError
from edgekit.optimize.data import TrainData
from edgekit.optimize.distill import Distillation, distillation_for, distillation_loss, pack_targets
from edgekit.optimize.progress import Progress
from edgekit.recipe import Train

DEFAULT_LEARNING_RATE = 1e-4  # fine-tuning a trained model: small steps
FINE_TUNE_FACTOR = 0.1  # the model's own optimizer is reused at a tenth of its learning rate
SEED = 0  # fine-tuning is seeded, so a recipe reproduces its result


@dataclass(frozen=True)
class TrainSettings:
    """What fine-tuning actually used (reported next to the results)."""

    loss: str
    optimizer: str
    learning_rate: float | None
    epochs: int
    batch_size: int
    steps_per_epoch: int
    source: str  # "recipe", "model" (its compile settings) or "default"
    distillation: Distillation | None = None  # set when the loss is distillation from the original model
    train_samples: int = 0
    held_out_samples: int = 0
    batchnorm: str = "none"  # "frozen (N layers)", "trained (N layers)" or "none"


def steps_per_epoch(data: TrainData, train: Train) -> int:
    return max(1, math.ceil(len(data.x_train) / train.batch_size))


_frozen: dict[int, list] = {}  # id(model) -> the BatchNormalization layers compile_for_training froze for fit()
# The two crossentropies differ only in the labels they take: class indices (sparse) or one-hot rows.
CROSSENTROPY = {"sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
                "categorical_crossentropy": "CategoricalCrossentropy"}


def compile_for_training(model, original, data: TrainData, train: Train, lr_factor: float = FINE_TUNE_FACTOR) -> TrainSettings:
    """Compile ``model`` (a wrapped copy) with the recipe's settings, else ``original``'s (its optimizer at
    ``lr_factor`` times its learning rate), else defaults.

    A crossentropy loss is matched to the labels: the model's own ``categorical_crossentropy`` fine-tunes on class
    indices as ``sparse_categorical_crossentropy`` (and the reverse for one-hot labels), keeping ``from_logits``,
    and the settings say so; a recipe's loss that does not fit the labels is an error."""
    keras = tf_keras()
    if not data.labelled and train.distill is False:
        raise DataError(f"{data.source} has inputs only (no labels): fine-tuning can only learn from the original "
                        "model's outputs; set train.distill to true or leave it unset (--distill)")
    if (train.distill or not data.labelled) and train.loss is not None:
        raise RecipeError(f"train.loss {train.loss!r} and distillation exclude each other: distillation brings "
                          "its own loss; drop train.loss or set train.distill to false")
    norms = batch_norm_layers(model)
    frozen = [layer for layer in norms if layer.trainable] if train.freeze_batchnorm else []
    for layer in frozen:
        layer.trainable = False  # inference mode: its moving statistics (and scale/offset) stay as trained
    _frozen[id(model)] = frozen  # trainable again after fit(): a QAT model with them frozen cannot be saved as .h5
    sizes = {"train_samples": len(data.x_train), "held_out_samples": len(data.x_val),
             "batchnorm": f"{'frozen' if train.freeze_batchnorm else 'trained'} ({len(norms)} layers)" if norms else "none"}
    if train.distill or not data.labelled:
        spec = distillation_for(original, data.y_train, train.temperature, train.distill_weight)
        optimizer, lr = _optimizer(keras, original, train, lr_factor)
        with quiet_native():
            model.compile(optimizer=optimizer, loss=distillation_loss(spec))
        return TrainSettings(spec.describe(), type(optimizer).__name__, lr, train.epochs, train.batch_size,
                             steps_per_epoch(data, train), "distillation", spec, **sizes)
    source = "default"
    sparse = data.y_train.ndim == 1
    if train.loss is not None:
        check_loss_name(train.loss)
        if train.loss in CROSSENTROPY and (train.loss.startswith("sparse") != sparse):
            other = next(n for n in CROSSENTROPY if n != train.loss)
            raise RecipeError(f"train.loss {train.loss} takes {'class indices' if train.loss.startswith('sparse') else 'one-hot labels'}, "
                              f"but {data.source} has {'class indices' if sparse else 'one-hot labels'}: use {other}")
        loss, loss_name, source = _named_loss(keras, train.loss, None, original), train.loss, "recipe"
    elif getattr(original, "loss", None) is not None:
        loss, source = original.loss, "model"
        loss_name, from_logits = _loss_identity(loss)
        if loss_name in CROSSENTROPY and loss_name.startswith("sparse") != sparse:
            matched = next(n for n in CROSSENTROPY if n != loss_name)
            loss = _named_loss(keras, matched, from_logits, original)
            loss_name = f"{matched} (the model's {loss_name}, matched to {'class-index' if sparse else 'one-hot'} labels)"
    else:
        loss, loss_name = _default_loss(keras, original, data)
    optimizer, lr = _optimizer(keras, original, train, lr_factor)
    classifier = data.y_train.ndim == 1 or (data.y_train.ndim == 2 and data.y_train.shape[1] > 1)
    with quiet_native():
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"] if classifier else None)
    return TrainSettings(loss_name, type(optimizer).__name__, lr, train.epochs, train.batch_size,
                         steps_per_epoch(data, train), source, **sizes)


def batch_norm_layers(model) -> list:
    """The BatchNormalization layers of ``model``: inside tfmot wrappers and nested models too."""
    found = []
    for layer in model.layers:
        inner = getattr(layer, "layer", None) or layer  # a tfmot wrapper holds the layer it wraps
        if type(inner).__name__ == "BatchNormalization":
            found.append(inner)
        elif hasattr(inner, "layers"):
            found += batch_norm_layers(inner)
    return found


def check_loss_name(name: str) -> None:
    try:
        tf_keras().losses.get(name)
    except (ValueError, TypeError):
        raise RecipeError(f"train.loss {name!r} is not a Keras loss name (e.g. sparse_categorical_crossentropy, mse)") from None


def _loss_identity(loss) -> tuple[str, bool | None]:
    """(name, from_logits or None) of a compiled loss: a name, a function or a Loss object."""
    if isinstance(loss, str):
        return loss, None
    config = loss.get_config() if hasattr(loss, "get_config") else {}
    name = config.get("name") if isinstance(config.get("name"), str) else getattr(loss, "__name__", str(loss))
    return name, config.get("from_logits")


def _named_loss(keras, name: str, from_logits: bool | None, model):
    """The loss ``name``; a crossentropy as its class with ``from_logits`` (by default: whether the model ends in
    logits — a bare name would take logits for probabilities)."""
    if name not in CROSSENTROPY:
        return keras.losses.get(name)
    if from_logits is None:
        from_logits = not _ends_in_probabilities(model)
    return getattr(keras.losses, CROSSENTROPY[name])(from_logits=from_logits)


def _ends_in_probabilities(model) -> bool:
    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    return activation in ("softmax", "sigmoid") or type(last).__name__ == "Softmax"


def _default_loss(keras, model, data: TrainData):
    probabilities = _ends_in_probabilities(model)
    if data.y_train.ndim == 1:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities), "sparse_categorical_crossentropy"
    if data.y_train.ndim == 2 and data.y_train.shape[1] > 1 and np.allclose(data.y_train.sum(axis=1), 1):
        return keras.losses.CategoricalCrossentropy(from_logits=not probabilities), "categorical_crossentropy"
    return keras.losses.MeanSquaredError(), "mse"


def _optimizer(keras, original, train: Train, lr_factor: float = FINE_TUNE_FACTOR):
    existing = getattr(original, "optimizer", None)
    if existing is not None:
        config = dict(existing.get_config())
        if train.learning_rate is not None:
            config["learning_rate"] = float(train.learning_rate)
        elif isinstance(config.get("learning_rate"), (int, float, np.number)):  # tf-keras reports an np.float32
            config["learning_rate"] = float(config["learning_rate"]) * lr_factor
        try:
            optimizer = type(existing).from_config(config)
            lr = config.get("learning_rate")
            return optimizer, float(lr) if isinstance(lr, (int, float, np.number)) else None
        except Exception:  # an optimizer that cannot be re-created: fall back to the default
            pass
    lr = float(train.learning_rate or DEFAULT_LEARNING_RATE)
    return keras.optimizers.Adam(lr), lr


def fit(model, data: TrainData, train: Train, settings: TrainSettings, progress: Progress, what: str, callbacks=(),
        teacher=None) -> None:
    """Fine-tune ``model``; a distillation loss learns from ``teacher`` (the original model)."""
    total = settings.epochs * settings.steps_per_epoch
    targets = data.y_train
    if settings.distillation is not None:
        targets = pack_targets(teacher, data.x_train, data.y_train, settings.distillation)
    tf_keras().utils.set_random_seed(SEED)
    with progress.task(f"{what}: fine-tuning {settings.epochs} epoch(s)", total=total) as advance:
        try:
            with quiet_native():
                model.fit(data.x_train, targets, epochs=settings.epochs, batch_size=settings.batch_size,
                          verbose=0, shuffle=True, callbacks=[*callbacks, progress.keras_callback(advance)])
        except (ValueError, TypeError) as exc:
            raise DataError(f"fine-tuning ({what}) failed on {data.source}: {str(exc).strip().splitlines()[-1][:300]}") from None
        finally:
            for layer in _frozen.pop(id(model), ()):
                layer.trainable = True
