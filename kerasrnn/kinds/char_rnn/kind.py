"""The char model's export plug-in (the protocol: `kerasrnn.export.kind_plugin`)."""

from kerasrnn.kinds.char_rnn.export import export  # noqa: F401
from kerasrnn.kinds.char_rnn.verify import verify  # noqa: F401
from kerasrnn.kinds.char_rnn.limits import CharLimits
from kerasrnn.kinds.char_rnn.config import KIND, RUN_FORMAT  # noqa: F401

LIMITS = CharLimits
CARD_FIELDS = {"vocabulary": list, "generate": dict}  # the model card fields `verify` reads
