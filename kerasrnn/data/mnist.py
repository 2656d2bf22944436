"""MNIST and the distorted-MNIST variants of the Spatial Transformer Networks paper, in one place:
loading (`kerasrnn.data.mnist_files`: `load_mnist`) and the paper's five distortions drawn on
the fly (`kerasrnn.data.mnist_distortions`: `distorted_mnist_dataset`, `apply_distortion`)."""

from kerasrnn.data.mnist_distortions import (DISTORTIONS, apply_distortion, distorted_mnist_dataset,
                                             output_size)
from kerasrnn.data.mnist_files import IMAGE_SIZE, MNIST_NPZ_URL, held_out_split, load_mnist

__all__ = ["DISTORTIONS", "IMAGE_SIZE", "MNIST_NPZ_URL", "apply_distortion", "distorted_mnist_dataset",
           "held_out_split", "load_mnist", "output_size"]
