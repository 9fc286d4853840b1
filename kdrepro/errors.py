"""Errors that tell the user what to do next."""


class KdreproError(Exception):
    """Base class: the message is meant for the user and says how to fix the problem."""


class DatasetError(KdreproError):
    """A dataset is missing, incomplete or fails its checksum."""


class ConfigError(KdreproError):
    """An unknown chapter, scale, parameter, model or an incompatible setting."""


class NonFiniteLossError(KdreproError):
    """The training loss became NaN or infinite."""
