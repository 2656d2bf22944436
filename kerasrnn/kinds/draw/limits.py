"""What one request to an exported DRAW model may cost (`kerasrnn.export.request_limits`; no
TensorFlow: the ONNX driver reads them too)."""

import dataclasses

from kerasrnn.export.request_limits import RequestLimits


@dataclasses.dataclass(frozen=True)
class DRAWLimits(RequestLimits):
    """DRAW's `generate` and `reconstruct` signatures (and `onnx_driver.DRAWGenerator`). A row
    costs the model's T steps (fixed at training), so the rows bound a request's work; a
    `generate` row answers T canvases of the image's size.

    Attributes:
        max_rows: Seeds per `generate` request, images per `reconstruct` request.
    """

    max_rows: int = 64
