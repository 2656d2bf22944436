"""DRAW's export plug-in (the protocol: `kerasrnn.export.kind_plugin`)."""

from kerasrnn.kinds.draw.config import KIND, RUN_FORMAT  # noqa: F401
from kerasrnn.kinds.draw.export import export  # noqa: F401
from kerasrnn.kinds.draw.limits import DRAWLimits
from kerasrnn.kinds.draw.verify import verify  # noqa: F401

LIMITS = DRAWLimits
CARD_FIELDS = {"model": dict}  # the model card fields `verify` reads
