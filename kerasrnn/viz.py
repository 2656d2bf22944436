"""Plots for scripts and notebooks (matplotlib, written to files; no windows)."""

import io
import pathlib

import keras
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kerasrnn import files  # noqa: E402


def plot_gradient_norms(curves, path, title="How far back the gradient reaches"):
    """Saves a log-scale plot of gradient norm against distance back in time.

    Args:
        curves: Dict `label -> float array (T,)` from `gradient_flow.state_gradient_norms`.
        path: PNG file to write.
        title: Figure title.

    Returns:
        `path`.
    """
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for label, norms in curves.items():
        ax.semilogy(range(len(norms)), norms, label=label, linewidth=1.6)
    ax.set_xlabel("distance back in time, T - t (steps)")
    ax.set_ylabel("||dL_T / ds_t||  (batch mean)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def saliency_maps(model, images, classes):
    """Vanilla-gradient saliency |d logit_class / d pixel| via tf-keras-vis (TensorFlow only).

    Args:
        model: A classifier from images `(B, H, W, C)` to logits `(B, K)`.
        images: float array `(B, H, W, C)`.
        classes: int array `(B,)`, the class to explain for each image.

    Returns:
        float array `(B, H, W)`, each map scaled to [0, 1].
    """
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.scores import CategoricalScore

    # tf-keras-vis calls the model with a list of inputs: give it a model that takes one.
    listed = keras.Model([model.inputs[0]], model.outputs[0])
    return np.asarray(Saliency(listed, clone=True)(CategoricalScore(list(map(int, classes))), images))


def plot_image_rows(rows, path, titles=None, row_labels=None, cmaps=None):
    """Saves a grid: one row per entry of `rows`, one column per image.

    Args:
        rows: List of float arrays `(N, H, W)` or `(N, H, W, 1)` (rows may differ in H, W).
        path: PNG file to write.
        titles: Optional list of N column titles (e.g. "7 -> 7").
        row_labels: Optional list of names, one per row.
        cmaps: Optional list of matplotlib colour maps, one per row (default gray).

    Returns:
        `path`.
    """
    n = len(rows[0])
    fig, axes = plt.subplots(len(rows), n, figsize=(1.1 * n, 1.2 * len(rows)), dpi=110, squeeze=False)
    for r, images in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            ax.imshow(images[c].squeeze(), cmap=(cmaps or ["gray"] * len(rows))[r])
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0 and titles:
                ax.set_title(titles[c], fontsize=7)
            if c == 0 and row_labels:
                ax.set_ylabel(row_labels[r], fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def save_figure(fig, path):
    """Writes `fig` as a PNG to `path` whole or not at all (`files.write_bytes_atomic`) and closes it."""
    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    path = pathlib.Path(path)
    files.write_bytes_atomic(path, png.getvalue())
    return path
