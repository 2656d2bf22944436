"""What one request to an exported classifier may cost (`kerasrnn.export.request_limits`)."""

import dataclasses

from kerasrnn.export.request_limits import RequestLimits


@dataclasses.dataclass(frozen=True)
class STNLimits(RequestLimits):
    """The classifier's signatures.

    Attributes:
        max_rows: Images per request.
    """

    max_rows: int = 256
