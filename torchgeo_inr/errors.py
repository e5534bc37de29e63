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


class LimitError(BitstreamError):
    """Input declares a size beyond a limit of :mod:`torchgeo_inr.limits` (raise the limit if you mean it)."""


class GuessWarning(UserWarning):
    """torchgeo-inr filled in something the data did not say, e.g. wavelengths or their unit.

    Said rather than done silently: wavelengths guessed from a band count, a unit guessed from value
    ranges. Say it in the data (a ``units`` attribute, a ``wavelength`` coordinate), or silence it with
    ``warnings.filterwarnings("ignore", category=GuessWarning)``.
    """


def warn_guess(message: str) -> None:
    """Warn with :class:`GuessWarning`, attributed to the first caller outside torchgeo-inr."""
    import os
    import sys
    import warnings

    packages = (sys.modules.get(name) for name in ("torchgeo_inr", "torchgeo_inr.plugins"))
    prefixes = tuple(os.path.dirname(m.__file__) + os.sep for m in packages if getattr(m, "__file__", None))
    warnings.warn(message, GuessWarning, skip_file_prefixes=prefixes)


class TimeCapWarning(UserWarning):
    """A fit was ended by its wall-clock cap (``max_seconds``): the stream is not the reproducible one."""
