"""The captioner's export plug-in (the protocol: `kerasrnn.export.kinds`)."""

from kerasrnn.export.captioner.export import export  # noqa: F401
from kerasrnn.export.captioner.verify import verify  # noqa: F401
from kerasrnn.export.request_limits import CaptionerLimits
from kerasrnn.trained_runs import CAPTIONER as KIND  # noqa: F401

LIMITS = CaptionerLimits
CARD_FIELDS = {"vocabulary": list, "image_size": int, "caption": dict}  # the card fields `verify` reads
