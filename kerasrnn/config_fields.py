"""What a config dataclass field tells a user: its help text and the command-line flag that
sets it, declared once beside its name, type and default.

A kind's config class declares each field with `setting(default, help, ...)`; the scripts offer
every field as a flag from that (`kerasrnn.cli.add_config_flags`) and name it in error messages
by `flag_names`, so a setting's name, default, help and check live in one place. Nothing here
parses arguments or imports TensorFlow.

Help texts are written in parameter terms: a setting in backticks (`eval_every`) is shown as its
flag (`--eval-every`) by a script, and as itself to a notebook reading the field.
"""

import dataclasses
import types
import typing

_KEY = "kerasrnn"  # the key of a field's metadata this module writes and reads


def setting(default, help, *, flags=(), default_help=None, choices=None, parse=None, off=None,
            exclusive=None, shortcuts=None, metavar=None, flag=True):
    """A dataclass field (`dataclasses.field(default=default)`) with what its flag needs.

    Args:
        default: The field's default (an immutable value; tuples for sequences).
        help: What the setting does, in parameter terms (other settings in backticks).
        flags: The flag's spellings when they are not `--field-name`, e.g. `("--lr",)`; the
            first one names the setting in error messages.
        default_help: What the default means, shown instead of the value (e.g. what `None`
            means: "one-hot").
        choices: The values the command line itself accepts (others end in a usage error
            before the config's own check runs); `None`: any, the config checks them.
        parse: The function from the flag's text to the value, when not the field's type
            (e.g. `comma_list(int)`).
        off: A flag value that stands for `None` (e.g. `--clip 0`: no clipping).
        exclusive: A group name; at most one flag of the fields sharing it may be given.
        shortcuts: `{flag: value}`, flags that set the field to one value
            (`{"--no-coordinates": "none"}`).
        metavar: The flag's placeholder in usage lines (default: the field's name in capitals).
        flag: False for a field that is no user setting (e.g. one that training records).
    """
    meta = dict(help=help, flags=tuple(flags), default_help=default_help, choices=choices,
                parse=parse, off=off, exclusive=exclusive, shortcuts=dict(shortcuts or {}),
                metavar=metavar, flag=flag)
    return dataclasses.field(default=default, metadata={_KEY: types.MappingProxyType(meta)})


def gradient_accumulation_setting():
    """The `gradient_accumulation_steps` field every kind's config has."""
    return setting(1, "average the gradients of K batches in each weight update (Keras "
                      "optimizers' gradient_accumulation_steps): K times the batch in the memory "
                      "of one, and with several replicas or workers one gradient exchange per K "
                      "batches", metavar="K")


def distribution_record():
    """The `distribution` field every kind's config has: how the run is spread over devices,
    recorded by the training function (distribute, replicas, workers, replica_batch_size; see
    `kerasrnn.train.distribution`). No user setting: a resume must run the same way."""
    return setting(None, "how the run was spread over devices (recorded by training)", flag=False)


def comma_list(kind):
    """A `parse` function: "3,3,1" -> `(3, 3, 1)` for `kind` int (each item through `kind`)."""

    def parse(text):
        return tuple(kind(item) for item in text.split(","))

    parse.__name__ = f"comma-separated {kind.__name__}"  # how argparse names it in an error
    return parse


def declared(field):
    """The metadata `setting` gave `field`; `TypeError` for a field declared without it."""
    meta = field.metadata.get(_KEY)
    if meta is None:
        raise TypeError(f"config field {field.name} is not declared with "
                        "kerasrnn.config_fields.setting (its help and flag)")
    return meta


def user_settings(config_class):
    """The fields of `config_class` that are user settings (flags), in declaration order."""
    return [f for f in dataclasses.fields(config_class) if declared(f)["flag"]]


def flag_spellings(field):
    """The flags that set `field`: its declared spellings, else `--field-name`."""
    return declared(field)["flags"] or ("--" + field.name.replace("_", "-"),)


def flag_names(config_class):
    """`{field name: flag}` for the user settings of `config_class`, e.g.
    `{"learning_rate": "--lr", "batch_size": "--batch-size", ...}`."""
    return {f.name: flag_spellings(f)[0] for f in user_settings(config_class)}


def value_type(field):
    """The type a flag's value has: the field's type, without `None` (`float | None` -> float)."""
    kinds = [t for t in typing.get_args(field.type) if t is not type(None)] or [field.type]
    return kinds[0]


def shown_default(field):
    """The field's default as its flag's help shows it: "256", "3,3,1", "off", or what
    `default_help` says."""
    meta = declared(field)
    if meta["default_help"] is not None:
        return meta["default_help"]
    value = field.default
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)
