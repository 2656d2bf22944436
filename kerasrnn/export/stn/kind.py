"""The classifier's export plug-in (the protocol: `kerasrnn.export.kinds`)."""

from kerasrnn.export.request_limits import STNLimits
from kerasrnn.export.stn.export import export  # noqa: F401
from kerasrnn.export.stn.verify import verify  # noqa: F401
from kerasrnn.trained_runs import STN_CLASSIFIER as KIND  # noqa: F401

LIMITS = STNLimits
CARD_FIELDS = {"input_shape": list}  # the model card fields `verify` reads
