#!/usr/bin/env python
"""Picture a trained ST-CNN: distorted test digits, what the transformer made of them, and where
the classifier looked (gradient saliency via tf-keras-vis). Works for the plain CNN too (no
rectified row).

Example:
  python training/plot_stn.py --model runs/stn-R --mnist mnist.npz --count 12 --out stn-R.png
"""

import argparse
import sys

from kerasrnn.cli import quiet_tensorflow_logs  # noqa: E402

quiet_tensorflow_logs(__name__)  # before TensorFlow loads: its start-up lines out, its errors kept


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="run directory written by train_stn.py")
    p.add_argument("--mnist", help="mnist.npz or idx folder (default: $KERASRNN_MNIST, else download)")
    p.add_argument("--count", type=int, default=12, help="test digits to show (default 12)")
    p.add_argument("--out", required=True, help="PNG file to write")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from kerasrnn.cli import run

    return run(lambda: plot(args), [])


def plot(args):
    import numpy as np

    from kerasrnn.cli import mnist_from_flags
    from kerasrnn.data.mnist import distorted_mnist_dataset
    from kerasrnn.errors import InputError
    from kerasrnn.files import write_problem_error
    from kerasrnn.kinds.stn_classifier.model import TRANSFORMER_NAME, rectifier
    from kerasrnn.kinds.stn_classifier.train import TEST_SEED
    from kerasrnn.kinds.stn_classifier.trained import load_stn_model
    from kerasrnn.viz import plot_image_rows, saliency_maps

    if not args.out.lower().endswith(".png"):
        raise InputError(f"--out must be a .png file, got {args.out}")
    if not 1 <= args.count <= 64:
        raise InputError("--count must be between 1 and 64")
    model, config = load_stn_model(args.model)
    (_, _), (x_test, y_test) = mnist_from_flags(args.mnist)
    distortion = config["training"]["distortion"]
    ds = distorted_mnist_dataset(x_test[: args.count], y_test[: args.count], distortion,
                                 args.count, TEST_SEED, shuffle=False)
    images, labels = next(iter(ds))
    images, labels = images.numpy(), labels.numpy()
    predicted = np.argmax(model.predict(images, verbose=0), axis=-1)
    rows, names = [images], [f"input ({distortion})"]
    if TRANSFORMER_NAME in [layer.name for layer in model.layers]:
        rows.append(rectifier(model).predict(images, verbose=0))
        names.append("transformed")
    rows.append(saliency_maps(model, images, predicted))
    names.append("saliency")
    cmaps = ["gray"] * (len(rows) - 1) + ["inferno"]
    titles = [f"{t} -> {p}" for t, p in zip(labels, predicted)]
    try:
        plot_image_rows(rows, args.out, titles=titles, row_labels=names, cmaps=cmaps)
    except OSError as e:
        raise write_problem_error(args.out, e, "free disk space or choose another --out") from None
    print(f"wrote {args.out} ({np.mean(predicted == labels):.0%} of these {args.count} right)")


if __name__ == "__main__":
    sys.exit(main())
