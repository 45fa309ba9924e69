"""The project's one error hierarchy.

Every error says what was wrong, quotes the offending value, and where it helps, what
to do. Callers catch :class:`CctaAiError` at the boundaries (CLI, job runner) and
record ``str(error)`` as the reason.
"""

from __future__ import annotations


class CctaAiError(Exception):
    """Base class of every error raised on purpose by this project."""


class InputError(CctaAiError):
    """The input data cannot be used as given."""


class SeriesError(InputError):
    """A DICOM series cannot become a volume (names the series and the problem)."""

    def __init__(self, message: str, series_uid: str | None = None) -> None:
        self.series_uid = series_uid
        prefix = f"series {series_uid}: " if series_uid else ""
        super().__init__(prefix + message)


class UnreadableFileError(SeriesError):
    """A file is not DICOM, is truncated, or its pixel data cannot be decoded."""


class MixedSeriesError(SeriesError):
    """Files from several series were given and none was chosen."""


class GeometryError(SeriesError):
    """Slices do not form a regular volume (missing slices, uneven spacing, mixed
    orientations, inconsistent sizes)."""


class GeometryValueError(CctaAiError, ValueError):
    """A geometry value (affine, spacing, shape) breaks a stated rule."""


class NotCctaError(InputError):
    """A series is not a coronary CT angiography (the reason says which rule)."""


class ConfigError(CctaAiError, ValueError):
    """A configuration value is invalid."""


class ModelError(CctaAiError):
    """A model bundle is missing, incomplete, or its weights fail their checksum."""
