"""SpatialTransformer: exact identity and one-pixel shifts, PyTorch parity, gradients, saving."""

import importlib.util
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasrnn.layers import (
    SpatialTransformer,
    affine_grid,
    bilinear_sample,
    projective_grid,
    tps_control_points,
    tps_grid,
)

SIZES = [(28, 28), (7, 5), (1, 9), (9, 1), (60, 60)]
IDENTITY = {"affine": np.eye(2, 3).ravel(), "projective": np.eye(3).ravel()[:8],
            "tps": tps_control_points(4).ravel()}


def _images(shape, seed=0, dtype="float32"):
    return np.random.default_rng(seed).random(shape).astype(dtype)


def _grid(transform, params, out_h, out_w, align_corners):
    if transform == "affine":
        return affine_grid(params, out_h, out_w, align_corners)
    if transform == "projective":
        return projective_grid(params, out_h, out_w, align_corners)
    return tps_grid(params, out_h, out_w, tps_control_points(4), align_corners)


def _warp(transform, images, params, align_corners, out=None):
    out_h, out_w = out or images.shape[1:3]
    params = np.tile(np.asarray(params, images.dtype)[None], (len(images), 1))
    grid = _grid(transform, params, out_h, out_w, align_corners)
    return np.asarray(bilinear_sample(images, grid, align_corners))


def _shifted(images, axis, step):
    """`images` read `step` (+1 or -1) pixels further along `axis`, zeros where that leaves it."""
    out = np.roll(images, -step, axis=axis)
    edge = [slice(None)] * images.ndim
    edge[axis] = -1 if step > 0 else 0
    out[tuple(edge)] = 0.0
    return out


def _pixel(size, align_corners):
    return 2.0 / (size - 1) if align_corners else 2.0 / size


# ---- the heart of the issue: identity and one-pixel translation are exact ----------------------


@pytest.mark.parametrize("transform", ["affine", "projective", "tps"])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", SIZES)
def test_identity_returns_the_input(transform, align_corners, size):
    images = _images((2, *size, 3))
    out = _warp(transform, images, IDENTITY[transform], align_corners)
    assert out.shape == images.shape
    assert np.abs(out - images).max() < 1e-5


@pytest.mark.parametrize("transform", ["affine", "projective", "tps"])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(28, 28), (7, 5), (60, 60), (2, 9)])
@pytest.mark.parametrize("axis,step", [(2, 1), (2, -1), (1, 1), (1, -1)])
def test_one_pixel_translation_is_a_zero_filled_shift(transform, align_corners, size, axis, step):
    images = _images((2, *size, 2), seed=1)
    delta = step * _pixel(size[axis - 1], align_corners)  # axis 2 is x (width), 1 is y (height)
    params = IDENTITY[transform].copy()
    if transform == "tps":
        params[(0 if axis == 2 else 1)::2] += delta
    else:
        params[2 if axis == 2 else 5] += delta
    out = _warp(transform, images, params, align_corners)
    assert np.abs(out - _shifted(images, axis, step)).max() < 1e-5


def test_half_size_identity_is_2x2_average_pooling():
    # align_corners=False: [-1, 1] is the same area at any resolution: a smaller output is a resize.
    images = _images((2, 12, 8, 3))
    out = _warp("affine", images, IDENTITY["affine"], align_corners=False, out=(6, 4))
    pooled = np.asarray(keras.layers.AveragePooling2D(2)(images))
    assert np.abs(out - pooled).max() < 1e-6


def test_corners_map_to_corners_with_align_corners_true():
    images = _images((1, 9, 7, 1))
    out = _warp("affine", images, IDENTITY["affine"], align_corners=True, out=(5, 4))
    np.testing.assert_allclose(out[0, [0, 0, -1, -1], [0, -1, 0, -1]],
                               images[0, [0, 0, -1, -1], [0, -1, 0, -1]], atol=1e-6)


# ---- parity with PyTorch's affine_grid + grid_sample (zeros padding) ----------------------------


@pytest.mark.parametrize("align_corners", [False, True])
def test_matches_torch_grid_sample(align_corners):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    images = _images((3, 11, 9, 2), seed=2)
    a = rng.uniform(-0.6, 0.6, 3)
    s = rng.uniform(0.6, 1.4, (3, 1))
    theta = np.stack([np.cos(a), -np.sin(a), rng.uniform(-0.4, 0.4, 3),
                      np.sin(a), np.cos(a), rng.uniform(-0.4, 0.4, 3)], 1).reshape(3, 2, 3)
    theta = (theta * np.concatenate([s, s, np.ones_like(s)], 1)[:, None]).astype("float32")
    grid = np.asarray(affine_grid(theta, 8, 10, align_corners))
    ours = np.asarray(bilinear_sample(images, grid, align_corners))
    t_grid = torch.nn.functional.affine_grid(torch.from_numpy(theta), (3, 2, 8, 10),
                                             align_corners=align_corners)
    theirs = torch.nn.functional.grid_sample(
        torch.from_numpy(images).permute(0, 3, 1, 2), t_grid, mode="bilinear",
        padding_mode="zeros", align_corners=align_corners).permute(0, 2, 3, 1).numpy()
    assert np.abs(grid - t_grid.numpy()).max() < 1e-6
    assert np.abs(ours - theirs).max() < 1e-5
    assert (theirs == 0).any() and (ours == 0).any()  # some points fell outside the image


# ---- projective and thin-plate-spline grids ------------------------------------------------------


def test_projective_grid_matches_the_homography_formula():
    h = np.array([[1.1, 0.2, 0.1, -0.1, 0.9, -0.2, 0.15, -0.1]], "float32")
    grid = np.asarray(projective_grid(h, 6, 5))
    xs, ys = np.meshgrid((2 * np.arange(5) + 1) / 5 - 1, (2 * np.arange(6) + 1) / 6 - 1)
    den = h[0, 6] * xs + h[0, 7] * ys + 1
    expected = np.stack([(h[0, 0] * xs + h[0, 1] * ys + h[0, 2]) / den,
                         (h[0, 3] * xs + h[0, 4] * ys + h[0, 5]) / den], -1)
    np.testing.assert_allclose(grid[0], expected, atol=1e-6)


def test_projective_translation_equals_affine_translation():
    theta = np.array([[1, 0, 0.3, 0, 1, -0.2]], "float32")
    homography = np.array([[1, 0, 0.3, 0, 1, -0.2, 0, 0]], "float32")
    np.testing.assert_array_equal(projective_grid(homography, 7, 9), affine_grid(theta, 7, 9))


def test_tps_grid_passes_through_the_moved_control_points():
    # With align_corners=True a 4x4 output's pixel centres are exactly the 4x4 control points.
    targets = tps_control_points(4) + np.random.default_rng(3).normal(0, 0.1, (16, 2))
    grid = np.asarray(tps_grid(targets.reshape(1, 32).astype("float32"), 4, 4,
                               tps_control_points(4), align_corners=True))
    np.testing.assert_allclose(grid.reshape(16, 2), targets, atol=1e-5)


def test_tps_reproduces_an_affine_transform():
    theta = np.array([[0.9, -0.2, 0.1], [0.25, 1.1, -0.05]])
    points = tps_control_points(4)
    targets = points @ theta[:, :2].T + theta[:, 2]
    tps = np.asarray(tps_grid(targets.reshape(1, -1).astype("float32"), 9, 7, points))
    affine = np.asarray(affine_grid(theta.reshape(1, 6).astype("float32"), 9, 7))
    assert np.abs(tps - affine).max() < 1e-5


# ---- gradients against central finite differences, float64 --------------------------------------


def _loss_fn(transform, images, out_size, weights):
    def loss(images, params):
        grid = _grid(transform, params, *out_size, align_corners=False)
        return tf.reduce_sum(bilinear_sample(images, grid) * weights)
    return loss


@pytest.mark.parametrize("transform", ["affine", "projective", "tps"])
def test_gradients_match_finite_differences(transform):
    rng = np.random.default_rng(4)
    images = rng.random((2, 6, 7, 2))
    out_size = (5, 6)
    weights = rng.standard_normal((2, *out_size, 2))
    base = {"affine": [0.85 * np.cos(0.3), -0.85 * np.sin(0.3), 0.05,
                       0.85 * np.sin(0.3), 0.85 * np.cos(0.3), -0.07],
            "projective": [0.9, -0.2, 0.05, 0.25, 0.85, -0.07, 0.1, -0.05],
            "tps": IDENTITY["tps"] + rng.normal(0, 0.05, 32)}[transform]
    params = np.tile(np.asarray(base)[None], (2, 1)) + rng.normal(0, 0.01, (2, len(base)))
    # Bilinear sampling has kinks at pixel centres: keep every sample point clear of them (a
    # finite-difference step moves a point by less than 1e-5 pixels).
    pixels = (np.asarray(_grid(transform, params, *out_size, False)) + 1) * [7 / 2, 6 / 2] - 0.5
    assert np.abs(pixels - np.round(pixels)).min() > 1e-4
    loss = _loss_fn(transform, images, out_size, weights)
    images_t, params_t = tf.constant(images), tf.constant(params)
    with tf.GradientTape() as tape:
        tape.watch([images_t, params_t])
        value = loss(images_t, params_t)
    assert value.dtype == tf.float64
    d_images, d_params = (g.numpy() for g in tape.gradient(value, [images_t, params_t]))

    eps = 1e-6
    for index in np.ndindex(params.shape):
        plus, minus = params.copy(), params.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric = (loss(images, plus) - loss(images, minus)).numpy() / (2 * eps)
        assert abs(d_params[index] - numeric) < 1e-6 * max(1.0, abs(numeric)), index
    for flat in rng.choice(images.size, 12, replace=False):
        index = np.unravel_index(flat, images.shape)
        plus, minus = images.copy(), images.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric = (loss(plus, params) - loss(minus, params)).numpy() / (2 * eps)
        assert abs(d_images[index] - numeric) < 1e-7, index
    assert np.abs(d_images).max() > 0.1 and np.abs(d_params).max() > 0.1


def test_layer_gradient_in_float64_policy():
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        layer = SpatialTransformer(keras.layers.Flatten(), (5, 6), transform="affine")
        rng = np.random.default_rng(5)
        images = tf.constant(rng.random((1, 6, 7, 1)))
        weights = rng.standard_normal((1, 5, 6, 1))
        layer(images)
        layer.bias.assign([0.8, -0.3, 0.04, 0.25, 0.9, -0.06])

        def loss():
            return tf.reduce_sum(layer(images) * weights)
        with tf.GradientTape() as tape:
            value = loss()
        assert value.dtype == tf.float64 and layer.bias.dtype == "float64"
        d_bias = tape.gradient(value, layer.bias).numpy()
        bias, eps = layer.bias.numpy(), 1e-6
        for i in range(6):
            layer.bias.assign(bias + eps * np.eye(6)[i])
            plus = loss().numpy()
            layer.bias.assign(bias - eps * np.eye(6)[i])
            numeric = (plus - loss().numpy()) / (2 * eps)
            assert abs(d_bias[i] - numeric) < 1e-6 * max(1.0, abs(numeric))
    finally:
        keras.config.set_floatx("float32")
        keras.config.set_dtype_policy("float32")


# ---- the layer ----------------------------------------------------------------------------------


def _localization():
    return keras.Sequential([keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
                             keras.layers.Flatten(), keras.layers.Dense(8, activation="tanh")])


@pytest.mark.parametrize("transform", ["affine", "projective", "tps"])
def test_layer_starts_at_the_identity(transform):
    images = _images((2, 12, 10, 3))
    layer = SpatialTransformer(_localization(), (12, 10), transform=transform)
    out, theta = layer(images, return_theta=True)
    assert out.shape == (2, 12, 10, 3) and theta.shape == (2, layer.num_params)
    assert np.abs(np.asarray(out) - images).max() < 1e-5
    identity = np.tile(IDENTITY[transform][None], (2, 1)).astype("float32")
    np.testing.assert_array_equal(theta, identity)
    assert [(w.name, tuple(w.shape)) for w in (layer.kernel, layer.bias)] == [
        ("kernel", (8, layer.num_params)), ("bias", (layer.num_params,))]
    np.testing.assert_array_equal(layer.transform_parameters(images), theta)


def test_layer_resizes_and_learns():
    inputs = keras.Input((12, 10, 1))
    layer = SpatialTransformer(_localization(), (6, 5), name="st")
    warped, theta = layer(inputs, return_theta=True)
    assert (warped.shape, theta.shape) == ((None, 6, 5, 1), (None, 6))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(warped)))
    model.compile("adam", "mse")
    x, y = _images((8, 12, 10, 1)), _images((8, 1), seed=1)
    before = model.get_layer("st").kernel.numpy().copy()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.abs(model.get_layer("st").kernel.numpy() - before).max() > 0  # gradients reach theta


@pytest.mark.parametrize("transform", ["affine", "projective", "tps"])
def test_keras_file_round_trip_gives_identical_outputs(transform, tmp_path):
    inputs = keras.Input((12, 10, 3))
    layer = SpatialTransformer(_localization(), (8, 6), transform=transform, align_corners=True)
    model = keras.Model(inputs, layer(inputs))
    kernel = np.random.default_rng(6).normal(0, 0.05, layer.kernel.shape)
    layer.kernel.assign(kernel)
    images = _images((2, 12, 10, 3), seed=7)
    expected = np.asarray(model(images))
    model.save(tmp_path / "st.keras")
    loaded = keras.saving.load_model(tmp_path / "st.keras")
    np.testing.assert_array_equal(np.asarray(loaded(images)), expected)
    st = loaded.layers[1]
    assert isinstance(st, SpatialTransformer) and isinstance(st.localization, keras.Sequential)
    assert (st.transform, st.output_size, st.align_corners) == (transform, (8, 6), True)
    np.testing.assert_array_equal(st.kernel.numpy(), kernel.astype("float32"))


def test_xla_and_dynamic_batch_graph_match_eager():
    layer = SpatialTransformer(_localization(), (7, 6), transform="tps")
    images = _images((3, 12, 10, 2))
    layer.build(images.shape)
    layer.kernel.assign(np.random.default_rng(8).normal(0, 0.1, layer.kernel.shape))
    eager = np.asarray(layer(images))

    @tf.function(jit_compile=True)
    def xla(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            total = tf.reduce_sum(y * y)
        return y, tape.gradient(total, [x, layer.kernel])

    graph = tf.function(layer.call, input_signature=[tf.TensorSpec((None, 12, 10, 2))])
    out, (d_images, d_kernel) = xla(tf.constant(images))
    eager_out, (eager_d_images, eager_d_kernel) = xla.python_function(tf.constant(images))
    np.testing.assert_allclose(out, eager, atol=1e-5)
    np.testing.assert_allclose(graph(tf.constant(images)), eager, atol=1e-5)
    np.testing.assert_allclose(d_images, eager_d_images, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(d_kernel, eager_d_kernel, rtol=1e-4, atol=1e-4)
    assert np.abs(eager_d_images).max() > 0.1 and np.abs(eager_d_kernel).max() > 0.1


# ---- bad input ----------------------------------------------------------------------------------

EXPECTED = r"\(batch, height, width, channels\)"


def test_bad_images_raise_a_clear_value_error():
    layer = SpatialTransformer(keras.layers.Flatten(), (4, 4))
    with pytest.raises(ValueError, match=EXPECTED):
        layer(np.zeros((2, 8, 8), "float32"))
    layer(np.zeros((2, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match=EXPECTED + " with 3 channels"):
        layer(np.zeros((2, 8, 8, 1), "float32"))
    with pytest.raises(ValueError, match=EXPECTED + ", got dtype int32"):
        layer(np.zeros((2, 8, 8, 3), "int32"))
    with pytest.raises(ValueError, match=EXPECTED + ", got dtype uint8"):
        layer(keras.Input((8, 8, 3), dtype="uint8"))
    with pytest.raises(ValueError, match=EXPECTED):
        bilinear_sample(np.zeros((8, 8, 3), "float32"), np.zeros((1, 2, 2, 2), "float32"))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="transform"):
        SpatialTransformer(keras.layers.Flatten(), (4, 4), transform="similarity")
    with pytest.raises(ValueError, match="output size"):
        SpatialTransformer(keras.layers.Flatten(), (4, 0))
    with pytest.raises(ValueError, match="grid size"):
        SpatialTransformer(keras.layers.Flatten(), (4, 4), transform="tps", tps_grid_size=1)
    with pytest.raises(ValueError, match=r"\(batch, 6\)"):
        affine_grid(np.zeros((2, 8), "float32"), 4, 4)


# ---- the torch backend --------------------------------------------------------------------------

TORCH_SCRIPT = r"""
import numpy as np, keras, torch
assert keras.backend.backend() == "torch"
from kerasrnn.layers import SpatialTransformer, affine_grid, bilinear_sample
images = np.random.default_rng(0).random((2, 7, 5, 3)).astype("float32")
theta = np.tile(np.array([[1, 0, 2 / 5, 0, 1, 0]], "float32"), (2, 1))
shifted = keras.ops.convert_to_numpy(bilinear_sample(images, affine_grid(theta, 7, 5)))
expected = np.zeros_like(images); expected[:, :, :-1] = images[:, :, 1:]
assert np.abs(shifted - expected).max() < 1e-5
layer = SpatialTransformer(keras.layers.Flatten(), (7, 5), transform="tps")
x = torch.tensor(images, requires_grad=True)
y = layer(x)
assert np.abs(y.detach().cpu().numpy() - images).max() < 1e-5
y.sum().backward()
assert x.grad is not None and layer.bias.value.grad is not None
"""


def test_runs_on_the_torch_backend():
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed (pip install torch to check the torch backend)")
    result = subprocess.run([sys.executable, "-c", TORCH_SCRIPT], capture_output=True, text=True,
                            env={**os.environ, "KERAS_BACKEND": "torch"}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
