"""Errors raised by the core: every one names the input it could not use."""


class KataNumaError(Exception):
    """Base class of the errors the suite reports as a one-line message."""


class InputError(KataNumaError, ValueError):
    """A value read from the node, the guest or the user cannot be used as given."""


class HostAccessError(KataNumaError):
    """A command or file operation on the node failed."""
