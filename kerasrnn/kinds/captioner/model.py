"""Show, Attend and Tell: a CNN encoder's feature grid, an attention decoder, greedy and beam search.

`build_captioner` gives the teacher-forced training model `[images, captions] -> [logits,
alphas]`; `greedy_decode` and `beam_search` caption images with it one word at a time, returning
the words' attention maps as well.
"""

import keras
import numpy as np
from keras import ops

from kerasrnn.layers.attention_decoder import AttentionDecoder
from kerasrnn.layers.centroid_coordinates import CentroidCoordinates
from kerasrnn.layers.grid_coordinates import GridCoordinates
from kerasrnn.kinds.captioner import beam_search_numpy
from kerasrnn.kinds.captioner.beam_search_numpy import LENGTH_PENALTY, Caption  # noqa: F401 (Caption: API)


COORDINATES = {"cell": GridCoordinates, "centroid": CentroidCoordinates, "none": None}
POOLINGS = {"max": keras.layers.MaxPooling2D, "average": keras.layers.AveragePooling2D}


def small_cnn_encoder(filters=(32, 64, 128), kernel_sizes=(3, 3, 1), poolings=("max", "max", "max")):
    """A small CNN trained from scratch: images `(B, S, S, 3)` -> grid `(B, S/8, S/8, filters[-1])`.

    Each convolution is followed by 2x2 pooling, `"max"` (the default) or `"average"` per layer
    (`poolings`). The last convolution is 1x1 by default, which keeps a cell's receptive field
    near its own 8x8 patch (14 pixels), so attending to a cell means looking at that place
    (docs/captioning.md compares the other kernels and poolings).
    """
    if not len(filters) == len(kernel_sizes) == len(poolings):
        raise ValueError(f"filters, kernel_sizes and poolings must have one entry per layer, got "
                         f"{len(filters)}, {len(kernel_sizes)} and {len(poolings)}")
    unknown = set(poolings) - set(POOLINGS)
    if unknown:
        raise ValueError(f"poolings must be {' or '.join(POOLINGS)}, got {sorted(unknown)}")
    layers = []
    for f, k, pool in zip(filters, kernel_sizes, poolings):
        layers += [keras.layers.Conv2D(f, k, padding="same", activation="relu"), POOLINGS[pool](2)]
    return keras.Sequential(layers, name="encoder")


def applications_encoder(image_size, name="MobileNetV2", weights=None, layer=None):
    """A `keras.applications` backbone cut at `layer` (default: its last layer) as the encoder.

    Args:
        image_size: Side of the square RGB input.
        name: A `keras.applications` model name, e.g. `"MobileNetV2"`, `"ResNet50"`.
        weights: `None` (random), `"imagenet"` (downloads; needs the network) or a local
            weights file path.
        layer: Name of the layer whose output grid is attended over.
    """
    backbone = getattr(keras.applications, name)(include_top=False, weights=weights,
                                                 input_shape=(image_size, image_size, 3))
    output = backbone.get_layer(layer).output if layer else backbone.output
    return keras.Model(backbone.input, output, name="encoder")


def coordinates_option(value):
    """`value` if it is a `COORDINATES` key; raises `ValueError` for anything else."""
    if not isinstance(value, str) or value not in COORDINATES:
        raise ValueError(f"coordinates must be one of {', '.join(COORDINATES)}, got {value!r}")
    return value


def build_captioner(vocab_size, image_size, max_length, encoder=None, cell="lstm",
                    embedding_dim=64, units=128, attention_units=64, dropout=0.0,
                    doubly_stochastic=0.0, attention="soft", seed=None, coordinates="cell"):
    """Builds the teacher-forced captioning model.

    Args:
        vocab_size: Number of word ids V (`CaptionVocabulary`, `<pad>` = 0).
        image_size: Side S of the square RGB images (float, [0, 1]).
        max_length: Words per caption n, as in `CaptionVocabulary.encode(captions, n)`: the
            model reads captions of `n + 2` ids and predicts the last `T = n + 1` of them.
        encoder: A model from images to a grid `(B, h, w, D)`; default `small_cnn_encoder()`.
        cell, embedding_dim, units, attention_units, dropout, doubly_stochastic, attention,
            seed: See `AttentionDecoder`.
        coordinates: What position each annotation carries (`COORDINATES`): `"cell"`, the
            cell's own (x, y) (`GridCoordinates`), so the decoder knows where it looked;
            `"centroid"`, the centre of the thing around the cell (`CentroidCoordinates`), which
            lets it order objects without a pull to one edge of each; `"none"` (only a wide
            receptive field tells it). `True` / `False` mean `"cell"` / `"none"`.

    Returns:
        A model `[images (B, S, S, 3), captions (B, n + 2)] -> [logits (B, T, V), alphas
        (B, T, L)]` whose logits predict `captions[:, 1:]`, with sub-layers named `encoder` and
        `decoder`, L = h * w. Train it with `loss=[masked cross-entropy, None]` and targets
        `captions[:, 1:]`.
    """
    images = keras.Input((image_size, image_size, 3), name="images")
    captions = keras.Input((max_length + 2,), dtype="int32", name="captions")
    grid = (encoder or small_cnn_encoder())(images)
    coordinates = coordinates_option(coordinates)
    if COORDINATES[coordinates]:
        grid = COORDINATES[coordinates](name="coordinates")(grid)
    annotations = keras.layers.Reshape((-1, grid.shape[-1]), name="annotations")(grid)
    decoder = AttentionDecoder(vocab_size, embedding_dim, units, attention_units, cell, dropout,
                               doubly_stochastic, attention=attention, seed=seed, name="decoder")
    logits, alphas = decoder(annotations, captions)
    return keras.Model([images, captions], [logits, alphas], name="captioner")


def _encode(model, images):
    """The annotation vectors `(B, L, D)` of a `build_captioner` model for `images`."""
    grid = model.get_layer("encoder")(images)
    if any(layer.name == "coordinates" for layer in model.layers):
        grid = model.get_layer("coordinates")(grid)
    return model.get_layer("annotations")(grid)


def greedy_decode(model, images, start_id, end_id, max_length, length_penalty=LENGTH_PENALTY):
    """Captions each image by taking the most likely word at every step: `beam_search_batch`
    with one beam.

    Args:
        model: A `build_captioner` model.
        images: float `(B, S, S, 3)`.
        start_id, end_id: Ids of `<start>` and `<end>`.
        max_length: Most words generated (including `<end>`).
        length_penalty: alpha of the score `log_prob / len ** alpha` (reported, not used here).

    Returns:
        List of B `Caption`s.
    """
    return beam_search_batch(model, images, start_id, end_id, max_length, 1, length_penalty)


def beam_search(model, image, start_id, end_id, max_length, beam_width=3,
                length_penalty=LENGTH_PENALTY):
    """Captions one image `(S, S, 3)` with beam search; see `beam_search_batch`. Returns a `Caption`."""
    return beam_search_batch(model, np.asarray(image)[None], start_id, end_id, max_length,
                             beam_width, length_penalty)[0]


def beam_search_batch(model, images, start_id, end_id, max_length, beam_width=3,
                      length_penalty=LENGTH_PENALTY):
    """Captions a batch of images with beam search, all beams of all images in one decoder call.

    For each image, keeps the `beam_width` best partial captions by summed log-probability; a
    caption that emits `<end>` (or reaches `max_length`) is finished; an image's search stops
    when no live beam can still beat its best finished caption (or no beam is left), and it
    gets the finished caption with the best length-normalised score
    `log_prob / len ** length_penalty`. With
    `beam_width=1` it is greedy decoding. The bookkeeping is `kerasrnn.kinds.captioner.beam_search_numpy`'s,
    which the ONNX Runtime driver shares.

    Args:
        model: A `build_captioner` model.
        images: float `(B, S, S, 3)`.
        start_id, end_id: Ids of `<start>` and `<end>`.
        max_length: Most words generated (including `<end>`).
        beam_width: Number of beams k (>= 1).
        length_penalty: alpha of the length normalisation (0 = none, the default).

    Returns:
        List of B `Caption`s.
    """
    numpy = ops.convert_to_numpy
    decoder = model.get_layer("decoder")
    annotations = _encode(model, images)
    projected = decoder.attention.project_annotations(annotations)

    def step(tokens, states, annotations, projected):
        logits, states, weights = decoder.step(tokens, states, annotations, projected)
        return numpy(logits), [numpy(s) for s in states], numpy(weights)

    return beam_search_numpy.beam_search(step, numpy(annotations), numpy(projected),
                       [numpy(s) for s in decoder.initial_state(annotations)], start_id, end_id,
                       max_length, beam_width, length_penalty)
