"""Helpers the scripts share (the library itself never parses arguments or prints)."""

import dataclasses
import re


def in_flag_terms(message, flags):
    """A library message with parameter names written as a script's flags.

    Names with an underscore are replaced wherever they stand as a whole word; plain-word names
    (`dropout`, `seed`) only at the start of the message, where a check names its parameter.

    Args:
        message: The text of an `InputError`.
        flags: `{parameter name: flag}`, e.g. `{"learning_rate": "--lr"}`, or parameter names
            whose flags are `--name-with-dashes`.
    """
    if not isinstance(flags, dict):
        flags = {name: "--" + name.replace("_", "-") for name in flags}
    for name, flag in sorted(flags.items(), key=lambda item: -len(item[0])):
        if "_" in name:
            message = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", flag, message)
        else:
            message = re.sub(rf"^{re.escape(name)}(?![\w-])", flag, message)
    return message



def flags_of(config_class, renamed=None):
    """`{field: flag}` for a config dataclass: `--field-name` unless `renamed` says otherwise."""
    flags = {f.name: "--" + f.name.replace("_", "-") for f in dataclasses.fields(config_class)}
    flags.update({"time_limit": "--time-limit", "max_seconds": "--time-limit",
                  "allow_large": "--allow-large", "resume": "--resume"})
    flags.update(renamed or {})
    return flags


def format_limits(limits):
    """A model card's `limits` as one line: "max_rows 32, ..., image_formats jpeg,png"."""
    return ", ".join(f"{k} {','.join(v) if isinstance(v, list) else v}" for k, v in limits.items())
