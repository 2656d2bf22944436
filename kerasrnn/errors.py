"""The one exception kerasrnn raises for problems a user can fix (bad files, bad flags)."""


class InputError(ValueError):
    """A problem with what the user gave us; the message says what is wrong and what to do.

    Scripts print it as a single line and exit non-zero, without a traceback.
    """
