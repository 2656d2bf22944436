"""Checks every kind's training config shares (`kerasrnn/kinds/<kind>/config.py`): numbers finite and in range,
sizes that fit in memory, and what a resumed run may change; and the training functions' and
scripts' time limits.

Messages name the parameters (`learning_rate`, `hidden_size`); the scripts turn them into their
flags with `kerasrnn.cli.in_flag_terms`.
"""

import dataclasses
import json
import math
import numbers

from kerasrnn.errors import InputError

SEED_LIMIT = 2**32  # keras.utils.set_random_seed seeds NumPy's legacy generator: [0, 2**32)
LARGE_BYTES = 2 * 2**30  # weights, or one batch's activations, above this need allow_large
FLOAT_BYTES = 4


def check_int(name, value, low=1, high=None):
    """Raises `InputError` unless `value` is an integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"between {low} and {high:,}"
        raise InputError(f"{name} must be {bound}, got {value}")


def check_accumulation(gradient_accumulation_steps, steps, what):
    """Raises `InputError` unless `gradient_accumulation_steps` divides `steps`, the training
    steps (batches) of `what` (e.g. "an epoch"), so every backup and evaluation falls on a
    weight update, never inside an accumulation."""
    check_int("gradient_accumulation_steps", gradient_accumulation_steps)
    if steps % gradient_accumulation_steps:
        raise InputError(f"gradient_accumulation_steps {gradient_accumulation_steps} must divide "
                         f"the {steps} steps of {what} (the weights are updated once every "
                         f"{gradient_accumulation_steps} steps; backups and evaluations fall on "
                         "an update)")


def check_real(name, value, low=None, high=None, low_open=False, high_open=False):
    """Raises `InputError` unless `value` is a finite number in the given (half-)open range."""
    if low is not None and high is not None:
        bound = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        bound = f"{'>' if low_open else '>='} {low:g}"
    elif high is not None:
        bound = f"{'<' if high_open else '<='} {high:g}"
    else:
        bound = ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InputError(f"{name} must be finite{' and ' + bound if bound else ''}, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise InputError(f"{name} must be {bound}, got {value}")


def check_choice(name, value, allowed):
    if value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")


def check_seed(value):
    check_int("seed", value, 0, SEED_LIMIT - 1)


def check_max_seconds(max_seconds):
    """The training functions' wall-time budget: `None` (no limit) or finite and > 0 seconds."""
    if max_seconds is not None:
        check_real("max_seconds", max_seconds, low=0, low_open=True)


def time_limit_seconds(minutes):
    """A script's `--time-limit` in minutes as `max_seconds` (None stays None); refuses <= 0, NaN."""
    if minutes is None:
        return None
    check_real("time_limit", minutes, low=0, low_open=True)
    return minutes * 60.0


def human_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} PiB"


def check_memory(what, nbytes, settings, allow_large):
    """Refuses a configuration whose `what` ("weights", "activations of one batch") would take
    more than `LARGE_BYTES`, unless `allow_large`.

    Args:
        what: What the estimate measures.
        nbytes: The estimate in bytes.
        settings: `{name: value}` of the parameters the estimate grows with (for the message).
        allow_large: Skip the check.
    """
    if allow_large or nbytes <= LARGE_BYTES:
        return
    names = ", ".join(f"{k} {v}" for k, v in settings.items())
    raise InputError(f"{names} needs about {human_bytes(nbytes)} of {what}; at most "
                     f"{human_bytes(LARGE_BYTES)} unless allow_large is set")


def _plain(value):
    """A value as config.json stores it (tuples become lists), for comparisons."""
    return json.loads(json.dumps(value))


def resumed_settings(config_class, saved, given, resumable, replaced_together=()):
    """The settings a resumed run trains with: the saved ones, with `resumable` ones replaced.

    Args:
        config_class: The config dataclass.
        saved: The `training` part of the run's `config.json`.
        given: A config dataclass (every field counts as given) or a dict of the settings the
            caller set (e.g. only the flags a user typed).
        resumable: Names that may change on resume (the rest must equal the saved ones).
        replaced_together: Names that are replaced as a group when any of them is given (e.g.
            `steps` and `epochs`: giving one clears the other).

    Returns:
        A `config_class` instance (not yet validated).

    Raises:
        InputError: A non-resumable setting differs from the saved one (all such are named).
    """
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(set(saved) - set(fields))
    if unknown:
        raise InputError(f"the run's config.json has settings this kerasrnn does not know: "
                         f"{', '.join(unknown)}; use the kerasrnn version that wrote it")
    if dataclasses.is_dataclass(given):
        given = dataclasses.asdict(given)
    given = dict(given)

    def default(name):
        f = fields[name]
        return f.default_factory() if f.default is dataclasses.MISSING else f.default

    changed = []
    for name, value in given.items():
        if name not in fields:
            raise InputError(f"{name} is not a {config_class.__name__} setting")
        if name in resumable:
            continue
        before = saved.get(name, default(name))
        if _plain(value) != _plain(before):
            changed.append(f"{name} (run {before!r}, given {value!r})")
    if changed:
        raise InputError(f"resume may change only {', '.join(resumable)}; these differ from the "
                         f"run's config.json: {'; '.join(changed)}")
    values = dict(saved)
    if any(name in given for name in replaced_together):
        for name in replaced_together:
            values[name] = given.get(name)
    for name in resumable:
        if name in given and name not in replaced_together:
            values[name] = given[name]
    return config_class(**values)


def keras_accumulation(gradient_accumulation_steps):
    """The `gradient_accumulation_steps` argument of a Keras optimizer for a config's setting
    (Keras takes `None` for updating after every batch, or at least 2)."""
    return gradient_accumulation_steps if gradient_accumulation_steps > 1 else None


def replicas_note(replicas):
    """The replicas, for a memory message, when the batch is split over several."""
    return dict(replicas=replicas) if replicas > 1 else {}
