"""The ST-CNN / CNN classifier exported: images in, class probabilities out."""
