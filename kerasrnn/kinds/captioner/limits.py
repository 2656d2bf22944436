"""What one request to an exported captioner may cost (`kerasrnn.export.request_limits`;
no TensorFlow: the ONNX driver reads them too)."""

import dataclasses

from kerasrnn.errors import InputError
from kerasrnn.export.request_limits import RequestLimits


# The formats `kerasrnn.data.image_files.decode_untrusted` reads (that module needs TensorFlow,
# this one must not; tests/test_hostile_requests.py keeps the two equal).
IMAGE_FORMATS = ("jpeg", "png", "bmp")


@dataclasses.dataclass(frozen=True)
class CaptionerLimits(RequestLimits):
    """The captioner's signatures (and `CaptionerONNX`).

    Attributes:
        max_rows: Images per request.
        max_image_bytes: Bytes of one encoded image.
        max_image_pixels: Pixels (height x width) an encoded image's header may claim; checked
            before decoding.
        image_formats: The encoded formats accepted, told by their magic bytes.
        max_beam_width: Largest beam width a request may ask for.
        max_decode_work: Work decoding one image may cost, counted from its bytes before
            decoding (`image_files.decode_work`, units of about one byte or coefficient the
            decoder handles; a JPEG of more than 100 scans is refused too); None (a version
            exported before this limit): not checked.
    """

    max_rows: int = 32
    max_image_bytes: int = 8 * 2**20
    max_image_pixels: int = 4096 * 4096
    image_formats: tuple = IMAGE_FORMATS
    max_beam_width: int = 10
    max_decode_work: int = dataclasses.field(default=2**31, metadata={"added": True})

    def __post_init__(self):
        super().__post_init__()
        formats = self.image_formats
        if not isinstance(formats, tuple) or not formats or not set(formats) <= set(IMAGE_FORMATS):
            raise InputError(f"image_formats must be one or more of {','.join(IMAGE_FORMATS)}, "
                             f"got {','.join(map(str, formats)) if isinstance(formats, tuple) else formats!r}")
