"""Errors that reach users as one clear message (the CLIs print them without a traceback)."""


class UserError(Exception):
    """Something the user can fix: the message says what and how."""


class ConfigError(UserError, ValueError):
    """A config file, key or value is wrong."""


class DataError(UserError):
    """A data source is missing, empty, corrupt or malformed."""


class DataMissing(DataError):
    """A named data set is not on this machine; the message says what to download and where."""


class RunDirError(UserError):
    """The run directory cannot be used as asked (e.g. it holds a different run)."""


class TrainingDiverged(UserError):
    """A loss became NaN or infinite; the last finite checkpoint is kept."""


class CheckpointWriteError(RunDirError):
    """A checkpoint could not be written (a full disk, a read-only folder); the previous one is intact."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what the command knows of the state it leaves (which checkpoint a re-run resumes)."""
