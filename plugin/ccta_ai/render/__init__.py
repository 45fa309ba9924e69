"""Pictures of the findings (pure numpy/scipy/Pillow, no DICOM): CPRs, cross-sections,
profiles, overview, film page, and their burned-in annotations and fonts."""
