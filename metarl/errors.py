"""Errors that the CLI reports as one clear line instead of a traceback."""


class MetarlError(Exception):
    """Base class for user-facing errors (bad config, bad data, bad run directory)."""


class ConfigError(MetarlError):
    """A config key or value is unknown, malformed or out of range."""


class DataError(MetarlError):
    """A data directory is missing, malformed, or too small for the requested episodes."""


class TaskError(MetarlError):
    """A task family is unknown, or a task is malformed or out of its family's range."""


class RunDirError(MetarlError):
    """A directory is not a metarl run, or its contents are damaged."""


class NonFiniteError(MetarlError):
    """A loss, gradient, parameter, return, reward or observation became NaN or infinite."""
