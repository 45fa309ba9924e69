"""Coronary analysis: pure functions from a ``Volume`` (and masks) to ``Findings``.

Geometric core (trace → repair → measure → find):

* :mod:`.trace` — lumen mask → centreline tree (:func:`.trace.trace_centerlines`),
  built on :mod:`.skeleton` (voxel-level TEASAR) and :mod:`.graph` (polyline graph,
  split into vessels);
* :mod:`.repair` — vessel integrity repair: bridge gaps between mask pieces;
* :mod:`.lumen` — cross-sections orthogonal to the centreline, lumen area/diameters;
* :mod:`.stenosis` — reference diameter and lesions along a lumen profile;
* :mod:`.coronary` — the above along a whole tree, as :mod:`.findings` parts;
* :mod:`.findings` — the JSON-serialisable hand-off to the output writers;
* :mod:`.geometry` — polyline helpers (arc length, smoothing, frames).
"""
