"""CCTA AI for Orthanc: coronary CT angiography analysis stored back as standard DICOM."""

__version__ = "0.1.0"
