"""Exceptions: one per sqz_status, all derived from :class:`Error`.

Each also derives from the built-in exception a Python programmer would
catch for that kind of failure (ValueError, MemoryError, OSError), so
``except ValueError`` still works around sqz calls.
"""

from __future__ import annotations

import builtins
from typing import Dict, Type


class Error(Exception):
    """Base class of every error sqz raises (library failures and bad arguments).

    ``status`` is the C status code (0 when the check was made in Python),
    ``detail`` the message (the library's ``sqz_last_error()`` text for
    library failures).
    """

    status: int = 0

    def __init__(self, detail: str, status: int = 0) -> None:
        super().__init__(detail)
        self.detail = detail
        if status:
            self.status = status

    def __str__(self) -> str:
        return self.detail


class InvalidArgument(Error, ValueError):
    """A bad argument: wrong dtype, shape, value out of range, closed object."""

    status = 1


class OutOfMemory(Error, MemoryError):
    """A host or device allocation failed."""

    status = 2


class IOError(Error, builtins.OSError):  # noqa: A001 - the sqz name, as in sqz.h
    """A file could not be opened, read or written."""

    status = 3


class FormatError(Error):
    """A file's content is corrupt or invalid."""

    status = 4


class Unsupported(Error):
    """Valid, but not built into this library or not implemented."""

    status = 5


class NoDevice(Error):
    """No usable GPU or driver."""

    status = 6


class DeviceError(Error):
    """A CUDA, cuDNN or cuBLAS call failed."""

    status = 7


class InternalError(Error):
    """A bug in sqz: please report it."""

    status = 8


class QueueFull(Error):
    """A batcher's queue is full: the request was refused; retry later."""

    status = 9


class Timeout(Error, builtins.TimeoutError):
    """A batcher request was not started within its timeout."""

    status = 10


class Cancelled(Error):
    """A batcher was closed before the request ran (or before it was submitted)."""

    status = 11


_BY_STATUS: Dict[int, Type[Error]] = {
    cls.status: cls
    for cls in (InvalidArgument, OutOfMemory, IOError, FormatError, Unsupported, NoDevice,
                DeviceError, InternalError, QueueFull, Timeout, Cancelled)
}


def error_for_status(status: int, detail: str) -> Error:
    """The exception for a non-zero sqz_status with its message."""
    cls = _BY_STATUS.get(status, Error)
    return cls(detail, status)
