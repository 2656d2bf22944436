"""Custom Keras layers, written with `keras.ops` only so they run on every Keras backend."""

from kerasrnn.layers.attention_decoder import AttentionDecoder
from kerasrnn.layers.bahdanau_attention import BahdanauAttention
from kerasrnn.layers.centroid_coordinates import CentroidCoordinates
from kerasrnn.layers.draw_attention import DRAWRead, DRAWWrite
from kerasrnn.layers.draw_cell import DRAWCell
from kerasrnn.layers.gaussian_window import GaussianWindow, window_passed_end
from kerasrnn.layers.grid_coordinates import GridCoordinates
from kerasrnn.layers.handwriting_cell import HandwritingCell, cell_inputs
from kerasrnn.layers.mixture_density import (
    MixtureDensity,
    mixture_nll,
    sample_point,
    split_mixture,
)
from kerasrnn.layers.one_hot import OneHot
from kerasrnn.layers.spatial_transformer import (
    SpatialTransformer,
    affine_grid,
    bilinear_sample,
    projective_grid,
    tps_control_points,
    tps_grid,
)
from kerasrnn.layers.vanilla_rnn_cell import VanillaRNNCell

__all__ = [
    "AttentionDecoder",
    "BahdanauAttention",
    "CentroidCoordinates",
    "DRAWCell",
    "DRAWRead",
    "DRAWWrite",
    "GaussianWindow",
    "GridCoordinates",
    "HandwritingCell",
    "MixtureDensity",
    "OneHot",
    "SpatialTransformer",
    "VanillaRNNCell",
    "affine_grid",
    "bilinear_sample",
    "cell_inputs",
    "mixture_nll",
    "projective_grid",
    "sample_point",
    "split_mixture",
    "tps_control_points",
    "tps_grid",
    "window_passed_end",
]
