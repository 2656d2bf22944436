"""The classifier's export plug-in (the protocol: `kerasrnn.export.kind_plugin`)."""

from kerasrnn.kinds.stn_classifier.limits import STNLimits
from kerasrnn.kinds.stn_classifier.export import export  # noqa: F401
from kerasrnn.kinds.stn_classifier.verify import verify  # noqa: F401
from kerasrnn.kinds.stn_classifier.config import KIND, RUN_FORMAT  # noqa: F401

LIMITS = STNLimits
CARD_FIELDS = {"input_shape": list}  # the model card fields `verify` reads
