"""Errors that teach: each names the function, the argument, what was expected and what was received."""

from __future__ import annotations

from typing import Any


class NnlError(Exception):
    """Base class of nnl's own errors."""


class FunctionArgumentError(NnlError, ValueError, RuntimeError):
    """A function was called with inputs or arguments that do not fit together (nnabla raises RuntimeError for
    these, Python code expects ValueError: it is both).

    >>> str(FunctionArgumentError('Affine', 'weight', 'a 2-D array', 'shape (3,)'))
    'Affine: argument weight: expected a 2-D array, got shape (3,).'
    """

    def __init__(self, function: str, argument: str, expected: str, received: Any, hint: str = "") -> None:
        self.function = function
        self.argument = argument
        message = f"{function}: argument {argument}: expected {expected}, got {received}."
        if hint:
            message += " " + hint
        super().__init__(message)


class NotBuiltError(NnlError, NotImplementedError):
    """A function of nnabla's registry that nnl does not provide yet."""

    def __init__(self, name: str, what: str = "function") -> None:
        super().__init__(f"{name}: this nnabla registry {what} is not implemented in nnl yet.")


class FileFormatError(NnlError, ValueError):
    """A file could not be read: names the file and the element at fault."""
