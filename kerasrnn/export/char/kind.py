"""The char model's export plug-in (the protocol: `kerasrnn.export.kinds`)."""

from kerasrnn.export.char.export import export  # noqa: F401
from kerasrnn.export.char.verify import verify  # noqa: F401
from kerasrnn.export.request_limits import CharLimits
from kerasrnn.trained_runs import CHAR_RNN as KIND  # noqa: F401

LIMITS = CharLimits
CARD_FIELDS = {"vocabulary": list, "generate": dict}  # the model card fields `verify` reads
