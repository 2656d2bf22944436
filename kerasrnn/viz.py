"""Plots for scripts and notebooks (matplotlib, written to files; no windows)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
    fig.savefig(path)
    plt.close(fig)
    return path
