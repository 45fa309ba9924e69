"""The OHIF Viewer served beside Orthanc (``ccta-ai viewer``): see :mod:`.serve`."""
