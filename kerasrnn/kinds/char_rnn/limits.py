"""What one request to an exported char model may cost (`kerasrnn.export.request_limits`;
no TensorFlow: the ONNX driver reads them too)."""

import dataclasses

from kerasrnn.export.request_limits import RequestLimits


@dataclasses.dataclass(frozen=True)
class CharLimits(RequestLimits):
    """The char model's `generate` and `step` signatures (and `CharGenerator`).

    A prime's characters are counted as the code points its UTF-8 decoding gives (every invalid
    byte sequence is one U+FFFD, which the model steps over if the vocabulary has it), after its
    bytes are checked against `max_prime_bytes`.

    Attributes:
        max_rows: Primes per `generate` request, token rows per `step` request.
        max_length: Characters one row may generate.
        max_prime_length: Characters (decoded code points) of one prime.
        max_request_chars: rows x (longest prime + longest length) of one `generate` request,
            the number of model steps it pays for.
        max_step_tokens: rows x tokens of one `step` request (its logits are this x vocabulary).
        max_prime_bytes: Bytes of one prime's UTF-8 encoding, checked before it is decoded
            (`None` in a version exported before this limit: not checked).
    """

    max_rows: int = 32
    max_length: int = 10_000
    max_prime_length: int = 10_000
    max_request_chars: int = 100_000
    max_step_tokens: int = 8_192
    max_prime_bytes: int = dataclasses.field(default=40_000, metadata={"added": True})
