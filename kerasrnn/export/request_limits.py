"""What one served request may cost: limits chosen at export, checked in the graph before any work.

Each model kind declares its limits as a frozen dataclass of positive integers (a subclass of
`RequestLimits`); `export/export_model.py` takes one flag per field (`--max-rows`, ...), the
model card records them under `limits`, the ONNX folder carries them as `limits.json` for the
drivers, and every signature refuses a request over a limit with an InvalidArgument error that
names it.

The signatures check them with `kerasrnn.export.request_checks`. This module imports no
TensorFlow, so the ONNX drivers read the same limits.
"""

import dataclasses
import json
import pathlib

from kerasrnn.errors import InputError
from kerasrnn.export import version_files

LIMITS_FILE = "limits.json"


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """Base of the per-kind limits: every field is an integer >= 1 (or a tuple of names).

    A field added after versions were first exported is declared with
    `dataclasses.field(default=..., metadata={"added": True})`: `load` fills it with None when an
    older `limits.json` lacks it, meaning "not checked" (that version's behaviour).
    """

    max_rows: int = 32

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple) or (value is None and field.metadata.get("added")):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{field.name} must be an integer >= 1, got {value!r}")

    @classmethod
    def option_names(cls):
        """The field names, the export options this kind accepts."""
        return [f.name for f in dataclasses.fields(cls)]

    def as_dict(self):
        """The limits as JSON-ready values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def save(self, directory):
        """Writes `directory/limits.json` (for the ONNX drivers); returns its path."""
        path = pathlib.Path(directory) / LIMITS_FILE
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory):
        """Reads `directory/limits.json` written by `save` (an added field it lacks is None).

        Raises:
            InputError: The file is missing or damaged (it is named).
        """
        path = pathlib.Path(directory) / LIMITS_FILE
        if not path.is_file():
            raise InputError(f"{directory} has no {LIMITS_FILE}; export the model again")
        values = version_files.read_json(path)
        names = set(cls.option_names())
        added = {f.name for f in dataclasses.fields(cls) if f.metadata.get("added")}
        if not names - added <= set(values):
            raise InputError(f"{path} does not hold the limits {sorted(names)}; export the model again")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names}
        values.update({k: None for k in added - set(values)})
        try:
            return cls(**values)
        except InputError as e:
            raise InputError(f"{path}: {e}; export the model again") from None


@dataclasses.dataclass(frozen=True)
class CharLimits(RequestLimits):
    """The char model's `generate` and `step` signatures (and `CharGenerator`).

    Attributes:
        max_rows: Primes per `generate` request, token rows per `step` request.
        max_length: Characters one row may generate.
        max_prime_length: Characters of one prime.
        max_request_chars: rows x (longest prime + longest length) of one `generate` request,
            the number of model steps it pays for.
        max_step_tokens: rows x tokens of one `step` request (its logits are this x vocabulary).
    """

    max_rows: int = 32
    max_length: int = 10_000
    max_prime_length: int = 10_000
    max_request_chars: int = 100_000
    max_step_tokens: int = 8_192


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


@dataclasses.dataclass(frozen=True)
class STNLimits(RequestLimits):
    """The classifier's signatures.

    Attributes:
        max_rows: Images per request.
    """

    max_rows: int = 256
