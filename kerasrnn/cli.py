"""Helpers the scripts share (the library itself never parses arguments or prints)."""

import re


def in_flag_terms(message, names):
    """An error message with the library's parameter names written as the script's flags.

    Args:
        message: The text of an `InputError`.
        names: Parameter names that are flags of the script (`max_rows` -> `--max-rows`); each
            is replaced where it stands as a whole word.

    Returns:
        The message, e.g. "max_rows must be an integer >= 1" -> "--max-rows must be ...".
    """
    for name in names:
        message = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", "--" + name.replace("_", "-"), message)
    return message


def format_limits(limits):
    """A model card's `limits` as one line: "max_rows 32, ..., image_formats jpeg,png"."""
    return ", ".join(f"{k} {','.join(v) if isinstance(v, list) else v}" for k, v in limits.items())
