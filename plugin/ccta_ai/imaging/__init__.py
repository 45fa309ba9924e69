"""DICOM series to :class:`Volume`, and geometry: the one place patient coordinates live."""

from ccta_ai.imaging.volume import Volume

__all__ = ["Volume"]
