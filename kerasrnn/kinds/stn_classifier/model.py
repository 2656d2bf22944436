"""ST-CNN and its plain-CNN baseline for distorted MNIST (Jaderberg et al. 2015, Table 1).

Both share one classifier: the paper's MNIST CNN, a 9x9 convolution, 2x2 max-pooling, a 7x7
convolution, 2x2 max-pooling and a softmax layer. The ST-CNN puts a `SpatialTransformer` in front
of it, with a small CNN localisation net (two 5x5 convolutions of 20 filters with max-pooling and
a 50-unit layer). `rectifier(model)` returns the sub-model that outputs the transformed image.
"""

import keras

from kerasrnn.layers import SpatialTransformer

MODELS = ("st-cnn", "cnn")
TRANSFORMER_NAME = "spatial_transformer"


def localization_net(input_size, filters=20, units=50):
    """The localisation CNN: images `(B, S, S, C)` -> features `(B, units)`.

    Images of 42 pixels or more are max-pooled by 2 first, which keeps its cost near that of
    the 28x28 case.
    """
    layers = [keras.layers.MaxPooling2D(2)] if input_size >= 42 else []
    layers += [
        keras.layers.Conv2D(filters, 5, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(filters, 5, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(units, activation="relu"),
    ]
    return keras.Sequential(layers, name="localization")


def classifier_cnn(filters=(32, 64), num_classes=10, dropout=0.0):
    """The classification CNN (the same in both models): images -> logits `(B, num_classes)`.

    `dropout` > 0 drops that share of the flattened features in training.
    """
    return keras.Sequential([
        keras.layers.Conv2D(filters[0], 9, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(filters[1], 7, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        *([keras.layers.Dropout(dropout)] if dropout else []),
        keras.layers.Dense(num_classes, name="logits"),
    ], name="classifier")


def build_stn_classifier(input_size, model="st-cnn", transform="affine", output_size=None,
                         channels=1, num_classes=10, filters=(32, 64), dropout=0.0):
    """Builds the ST-CNN or the CNN baseline as a functional model.

    Args:
        input_size: Side S of the square input images (28, 42 or 60 for distorted MNIST).
        model: `"st-cnn"` (spatial transformer in front) or `"cnn"` (the baseline).
        transform: The transformer's `"affine"`, `"projective"` or `"tps"`.
        output_size: Side of the transformer's output (default: `input_size`, capped at 42).
        channels: Image channels C.
        num_classes: Number of classes.
        filters: Filters of the classifier's two convolutions.
        dropout: Dropout on the classifier's flattened features (training only; default none).

    Returns:
        A model from images `(B, S, S, C)` float in [0, 1] to logits `(B, num_classes)`.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    images = keras.Input((input_size, input_size, channels), name="images")
    x = images
    if model == "st-cnn":
        side = output_size or min(input_size, 42)
        x = SpatialTransformer(localization_net(input_size), (side, side), transform=transform,
                               name=TRANSFORMER_NAME)(images)
    logits = classifier_cnn(filters, num_classes, dropout)(x)
    return keras.Model(images, logits, name=model.replace("-", "_"))


def rectifier(model):
    """The sub-model of an ST-CNN from the input images to the transformer's output images."""
    return keras.Model(model.input, model.get_layer(TRANSFORMER_NAME).output, name="rectifier")
