"""The exceptions that end a run in a way the user acts on: `InputError` for problems a user can
fix (bad files, bad flags), `Preempted` for training stopped by SIGTERM with a backup to resume."""


class InputError(ValueError):
    """A problem with what the user gave us; the message says what is wrong and what to do.

    Scripts print it as a single line and exit non-zero, without a traceback.
    """


class Preempted(Exception):
    """Training stopped on SIGTERM after writing a backup at the step it reached (every worker
    of a job at the same step); running again with `resume` continues from there.

    Scripts print the message and exit with `STATUS`.
    """

    STATUS = 42
