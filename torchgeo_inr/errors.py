"""The package's own exceptions: one base class so callers can catch all of them.

Each subclass also derives from the built-in exception a Python user would
expect (ValueError, KeyError), so generic handlers keep working.
"""


class InrError(Exception):
    """Base class of every error raised on purpose by torchgeo-inr."""


class SceneError(InrError, ValueError):
    """The input scene cannot be used as given (shape, dtype, NaN, band order...)."""


class BitstreamError(InrError, ValueError):
    """A byte string is not a valid torchgeo-inr stream: foreign, truncated or damaged."""


class UnknownCodecError(InrError, KeyError):
    """No codec of that name is registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0]) if self.args else ""


class RateError(InrError, ValueError):
    """The requested rate or quality cannot be reached by this codec on this scene.

    ``smallest`` is the byte count of the smallest stream the codec could write, when known.
    """

    def __init__(self, message: str, smallest: int | None = None):
        super().__init__(message)
        self.smallest = smallest
