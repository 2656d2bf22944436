"""The captioner's attention figure (matplotlib, written to a file)."""

import numpy as np

from kerasrnn.kinds.captioner.metrics import attention_points
from kerasrnn.viz import plt, save_figure


def plot_attention(image, captions, path, row_labels=None):
    """Saves the per-word attention figure: the image, then one panel per word with where it looked.

    Each attention map (a g x g grid over the image) is upsampled to the image size and shown
    as a light overlay, as in Show, Attend and Tell's figures, with its peak cell's centre
    marked `+` (red) and its attention-weighted centre `x` (cyan) (`metrics.attention_points`).
    Several captions of the same image (soft vs hard attention, greedy vs beam) make several
    rows. The PNG is written to a
    temporary file and renamed, so `path` never holds half a figure.

    Args:
        image: float `(S, S, 3)` in [0, 1].
        captions: List of `(words, alphas)`: n words and float `(n, L)` maps, L = g * g.
        path: PNG file to write.
        row_labels: Optional name of each row.

    Returns:
        `path`.
    """
    size = image.shape[0]
    columns = 1 + max(len(words) for words, _ in captions)
    fig, axes = plt.subplots(len(captions), columns, figsize=(1.4 * columns, 1.55 * len(captions)),
                             dpi=110, squeeze=False)
    for r, (words, alphas) in enumerate(captions):
        grid = int(round(np.sqrt(np.asarray(alphas).shape[-1])))
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([]), ax.set_yticks([])
            if c > len(words):
                ax.axis("off")
            elif c == 0:
                ax.imshow(image)
                ax.set_title(row_labels[r] if row_labels else "image", fontsize=7)
            elif c <= len(words):
                heat = np.asarray(alphas[c - 1], np.float64).reshape(grid, grid)
                ax.imshow(image)
                ax.imshow(heat / max(heat.max(), 1e-12), cmap="gray", alpha=0.6,
                          extent=(0, size, size, 0), interpolation="bilinear", vmin=0, vmax=1)
                peak, centre = attention_points(alphas[c - 1], size)
                ax.plot(*peak, "+", color="red", markersize=7, markeredgewidth=1.5)
                ax.plot(*centre, "x", color="cyan", markersize=5, markeredgewidth=1.2)
                ax.set_xlim(0, size), ax.set_ylim(size, 0)
                ax.set_title(words[c - 1], fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
