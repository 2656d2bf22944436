"""What one served request may cost: limits chosen at export, checked in the graph before any work.

Each model kind declares its limits as a frozen dataclass of positive integers (a subclass of
`RequestLimits`); `export/export_model.py` takes one flag per field (`--max-rows`, ...), the
model card records them under `limits`, the ONNX folder carries them as `limits.json` for the
drivers, and every signature refuses a request over a limit with an InvalidArgument error that
names it.

Every limit has a ceiling (`MAXIMA`, default `INT32_MAX`): the graph holds lengths and counts as
int32, so a larger value would wrap, and a ceiling far above any sane server keeps an export from
promising what no server can pay. Fields added after the first exports carry
`metadata={"added": True}`: a `limits.json` written before them lacks them, and `load` gives them
`None`, "not checked", so such a version keeps its old behaviour until exported again.

The signatures check them with `kerasrnn.export.request_checks`. This module imports no
TensorFlow, so the ONNX drivers read the same limits.
"""

import dataclasses
import json
import pathlib

from kerasrnn.errors import InputError
from kerasrnn.export import version_files

LIMITS_FILE = "limits.json"

INT32_MAX = 2**31 - 1

# The largest value of a field (any kind), where below INT32_MAX:
#   max_rows 2^16: a request's rows are one batch of the model; far more than any server batches.
#   max_length, max_prime_length 2^24 characters: their sum, the steps of one row, stays in int32
#       (and 2^24 model steps are hours of one request).
#   max_prime_bytes 2^26: 4 UTF-8 bytes per character of the longest prime.
#   max_step_tokens 2^24: the logits of one step request are this x the vocabulary, in float32.
#   max_image_bytes 2^30 (1 GiB): a request is a protobuf message, at most 2 GiB in all.
#   max_image_pixels 2^30 (32768 x 32768): its decoded RGB image is 3 GiB, its float copy 12 GiB.
#   max_beam_width 100: the beams x vocabulary of every step; `caption_image.py`'s --beam ceiling.
#   max_decode_work 2^40 (above INT32_MAX: it is counted in float64, exact to 2^53): at a few
#       nanoseconds a unit, about an hour of decoding for one image.
MAXIMA = {"max_rows": 2**16, "max_length": 2**24, "max_prime_length": 2**24, "max_prime_bytes": 2**26,
          "max_step_tokens": 2**24, "max_image_bytes": 2**30, "max_image_pixels": 2**30,
          "max_beam_width": 100, "max_decode_work": 2**40}


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """Base of the per-kind limits: every field is an integer between 1 and its `MAXIMA` (or a
    tuple of names); a field declared with `metadata={"added": True}` may be `None` (not checked)."""

    max_rows: int = 32

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple) or (value is None and field.metadata.get("added")):
                continue
            most = MAXIMA.get(field.name, INT32_MAX)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
                raise InputError(f"{field.name} must be an integer between 1 and {most}, got {value!r}")

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
        """Reads `directory/limits.json` written by `save`; a field added after it was written
        (`metadata={"added": True}`) is `None`, not checked, as when it was exported.

        Raises:
            InputError: The file is missing or damaged (it is named).
        """
        path = pathlib.Path(directory) / LIMITS_FILE
        if not path.is_file():
            raise InputError(f"{directory} has no {LIMITS_FILE}; export the model again")
        values = version_files.read_json(path)
        fields = dataclasses.fields(cls)
        names = {f.name for f in fields if not f.metadata.get("added")}
        if not names <= set(values):
            raise InputError(f"{path} does not hold the limits {sorted(names)}; export the model again")
        # A version exported before a field was added: that limit is not checked (None).
        values = {**{f.name: None for f in fields if f.metadata.get("added")}, **values}
        values = {f.name: tuple(v) if isinstance(v, list) else v
                  for f in fields for v in [values[f.name]]}
        try:
            return cls(**values)
        except InputError as e:
            raise InputError(f"{path}: {e}; export the model again") from None
