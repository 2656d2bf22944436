"""Plain-numpy reference implementations that the Keras models are tested and benchmarked against."""
