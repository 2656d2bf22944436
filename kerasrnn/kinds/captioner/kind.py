"""The captioner's export plug-in (the protocol: `kerasrnn.export.kind_plugin`)."""

from kerasrnn.kinds.captioner.export import export  # noqa: F401
from kerasrnn.kinds.captioner.verify import verify  # noqa: F401
from kerasrnn.kinds.captioner.limits import CaptionerLimits
from kerasrnn.kinds.captioner.config import KIND, RUN_FORMAT  # noqa: F401

LIMITS = CaptionerLimits
CARD_FIELDS = {"vocabulary": list, "image_size": int, "caption": dict}  # the card fields `verify` reads
