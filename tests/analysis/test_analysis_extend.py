"""Distal extension: a vessel followed past the end of its segmentation, through the image."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_phantom import (
    OBLIQUE_FEET_FIRST,
    Tube,
    arc_length,
    distances_to_curve,
    line,
    plateau_bump,
    render,
)
from scipy.spatial import cKDTree

from ccta_ai.analysis.coronary import analyse_coronaries
from ccta_ai.analysis.trace import TraceOptions, trace_centerlines
from ccta_ai.dicom_out.sr import _minimum_site
from ccta_ai.imaging.volume import Volume

NOISE_HU = 25.0
BLUR_MM = 0.5


def _bend(length_mm: float, bend_radius_mm: float = 60.0) -> np.ndarray:
    """A curved centreline (an arc in a tilted plane), 0.05 mm steps."""
    angle = np.linspace(0.0, length_mm / bend_radius_mm, int(length_mm / 0.05) + 1)
    u, v = np.array([0.6, 0.0, 0.8]), np.array([0.0, 1.0, 0.0])
    return np.asarray(
        np.array([5.0, -30.0, 120.0])
        + bend_radius_mm * (np.sin(angle)[:, None] * u + (1.0 - np.cos(angle))[:, None] * v)
    )


def _tapering(axis: np.ndarray, proximal_mm: float, distal_mm: float) -> np.ndarray:
    s = arc_length(axis)
    return np.asarray(proximal_mm + (distal_mm - proximal_mm) * s / s[-1])


def _near(volume: Volume, axis: np.ndarray, reach_mm: float) -> np.ndarray:
    """Voxels within ``reach_mm`` of a centreline, and their nearest axis point."""
    lps = volume.index_to_lps(np.argwhere(np.ones(volume.shape, dtype=bool)))
    distance, nearest = cKDTree(axis).query(lps)
    return (distance <= reach_mm).reshape(volume.shape), nearest.reshape(volume.shape)


def _cut(mask: np.ndarray, volume: Volume, axis: np.ndarray, keep_mm: float) -> np.ndarray:
    """The mask without the part of the vessel along ``axis`` beyond ``keep_mm``."""
    near, nearest = _near(volume, axis, reach_mm=2.5)
    return np.asarray(mask & ~(near & (arc_length(axis)[nearest] > keep_mm)))


def test_a_thin_distal_vessel_is_followed_past_the_end_of_its_segmentation() -> None:
    axis = _bend(50.0)
    radius = _tapering(axis, 1.3, 0.55)
    volume, mask = render([Tube(axis, radius)], OBLIQUE_FEET_FIRST, blur_mm=BLUR_MM,
                          noise_hu=NOISE_HU, seed=3)
    segmented = _cut(mask, volume, axis, keep_mm=28.0)

    without = trace_centerlines(segmented, volume, axis[:1], options=TraceOptions(extend=None))
    tree = trace_centerlines(segmented, volume, axis[:1])

    (short,) = without.vessels
    (vessel,) = tree.vessels
    assert short.length_mm < 28.5 and short.extended_from is None
    assert vessel.extended_from == len(short.points_lps_mm)
    # followed to within 2.5 mm of the true end, on the axis, without running past it
    assert vessel.length_mm > 50.0 - 2.5
    assert np.linalg.norm(vessel.points_lps_mm[-1] - axis[-1]) < 2.5
    assert distances_to_curve(vessel.points_lps_mm, axis).max() < 0.5
    beyond = vessel.points_lps_mm[vessel.extended_from :]
    _, nearest = cKDTree(axis).query(beyond)
    error = vessel.radius_mm[vessel.extended_from :] - radius[nearest]
    assert float(np.median(np.abs(error))) < 0.3
    assert any("beyond the segmentation" in note for note in tree.notes)


def test_a_narrowing_beyond_the_segmentation_is_not_graded() -> None:
    axis = _bend(50.0)
    s = arc_length(axis)
    radius = _tapering(axis, 1.5, 1.0) * (1.0 - 0.5 * plateau_bump(s, 40.0, 2.0, 2.0))
    volume, mask = render([Tube(axis, radius)], OBLIQUE_FEET_FIRST, blur_mm=BLUR_MM,
                          noise_hu=NOISE_HU, seed=4)
    segmented = _cut(mask, volume, axis, keep_mm=30.0)

    result = analyse_coronaries(volume, segmented, ostia_lps_mm=axis[:1])

    (vessel,) = result.vessels
    flags = np.array(vessel.centerline.beyond_segmentation)
    assert flags.any() and not flags[: len(flags) // 2].any()
    first = int(np.argmax(flags))
    assert np.all(flags[first:])  # one distal run
    assert abs(vessel.profile.s_mm[first] - 30.0) < 2.5
    # the 50 % narrowing at 40 mm lies beyond the segmentation: followed, not graded
    assert vessel.profile.s_mm[-1] > 44.0
    assert result.lesions == []
    # the SR's minimal lumen diameter of the vessel is the segmented part's (the
    # followed part narrows to 1 mm at 40 mm, as the profile measures it)
    diameters = vessel.profile.equivalent_diameter_mm
    followed = [d for d in diameters[first:] if d is not None]
    assert followed and min(followed) < 1.4
    minimum, _ = _minimum_site(vessel, result.lesions)
    assert minimum == min(d for d in diameters[:first] if d is not None)
    assert minimum > 1.5


def test_the_extension_stops_short_of_another_vessel() -> None:
    # a side branch runs into a larger vessel: it must not be joined to it by extension
    main = _bend(60.0)
    target = main[len(main) // 2]
    start = target + np.array([0.0, -22.0, 0.0])
    branch = start + np.linspace(0.0, 1.0, 441)[:, None] * (target - start)
    tubes = [Tube(main, np.full(len(main), 1.5)), Tube(branch, np.full(len(branch), 0.7))]
    volume, mask = render(tubes, OBLIQUE_FEET_FIRST, blur_mm=BLUR_MM, noise_hu=NOISE_HU, seed=5)
    # the branch's segmentation stops 10 mm short of the main vessel, which keeps its own
    segmented = _cut(mask, volume, branch, keep_mm=12.0) | (mask & _near(volume, main, 1.5)[0])

    tree = trace_centerlines(segmented, volume, np.vstack([main[:1], branch[:1]]),
                             options=TraceOptions(repair=None))

    side = min(tree.vessels, key=lambda v: np.linalg.norm(v.points_lps_mm[0] - branch[0]))
    assert side.extended_from is not None  # it was followed...
    gap = np.linalg.norm(side.points_lps_mm[-1] - target)
    assert 1.5 < gap < 1.5 + 1.5 + 1.5  # ...up to the other vessel's wall, not into it
    main_traced = [v for v in tree.vessels if v is not side]
    assert all(v.extended_from is None or v.length_mm < 62.0 for v in main_traced)


def test_the_extension_stops_where_the_vessel_opens_into_a_chamber() -> None:
    axis = _bend(30.0)
    heading = (axis[-1] - axis[-20]) / np.linalg.norm(axis[-1] - axis[-20])
    chamber_centre = axis[-1] + 9.0 * heading  # a 10 mm sphere of blood: the vessel opens into it
    tubes = [Tube(axis, np.full(len(axis), 0.9)), Tube(chamber_centre[None], np.array([10.0]))]
    volume, mask = render(tubes, OBLIQUE_FEET_FIRST, blur_mm=BLUR_MM, noise_hu=NOISE_HU, seed=6)
    # the vessel's segmentation stops at 15 mm; the chamber is not coronary lumen
    chamber = _near(volume, chamber_centre[None], 12.0)[0]
    segmented = _cut(mask, volume, axis, keep_mm=15.0) & ~chamber

    tree = trace_centerlines(segmented, volume, axis[:1], options=TraceOptions(repair=None))

    vessel = min(tree.vessels, key=lambda v: np.linalg.norm(v.points_lps_mm[0] - axis[0]))
    assert vessel.extended_from is not None
    # followed along the vessel, but not into the chamber (its wall: 10 mm from the centre)
    assert vessel.length_mm > 15.0 + 5.0
    assert np.linalg.norm(vessel.points_lps_mm[-1] - chamber_centre) > 10.0 - 0.5



def test_image_quality_judges_the_segmented_part_only() -> None:
    from ccta_ai.analysis.findings import Centerline, LumenProfile, Vessel
    from ccta_ai.analysis.pipeline import PipelineOptions, assess_quality

    count = 20
    volume = render([Tube(_bend(10.0), np.full(201, 1.0))], OBLIQUE_FEET_FIRST)[0]

    def quality(beyond: list[bool]) -> str:
        # segment 8's last 12 points: no measurable lumen (a thin vessel's end)
        vessel = Vessel(
            vessel_id=0,
            centerline=Centerline([[0.0, 0.0, float(i)] for i in range(count)], [1.0] * count,
                                  [8] * count, beyond_segmentation=beyond),
            profile=LumenProfile(s_mm=[float(i) for i in range(count)],
                                 area_mm2=[1.0] * 8 + [None] * 12),
        )
        aorta = np.zeros(volume.shape, dtype=bool)
        return assess_quality(volume, [vessel], aorta, PipelineOptions()).per_segment["8"]

    assert quality([False] * count) == "non-diagnostic"
    assert quality([False] * 8 + [True] * 12) == "diagnostic"


@pytest.mark.parametrize("vein_course", ["alongside", "crossing beyond the end"])
def test_the_extension_does_not_slide_onto_a_vein_beside_the_artery(vein_course: str) -> None:
    # a thin artery (0.6 mm) ends at 40 mm; a wider, brighter-looking vein (1.5 mm), not
    # in the segmentation, runs beside it 3 mm away or crosses its course 5 mm past its end
    start, heading = np.array([0.0, 0.0, 100.0]), np.array([0.0, 0.6, -0.8])
    artery = line(start, start + 40.0 * heading)
    side = np.array([1.0, 0.0, 0.0])
    if vein_course == "alongside":
        vein = line(start + 3.0 * side - 5.0 * heading, start + 3.0 * side + 70.0 * heading)
    else:
        crossing = start + 45.0 * heading
        course = np.cos(np.radians(30.0)) * heading + np.sin(np.radians(30.0)) * side
        vein = line(crossing - 45.0 * course, crossing + 20.0 * course)
    tubes = [Tube(artery, np.full(len(artery), 0.6)), Tube(vein, np.full(len(vein), 1.5))]
    volume, mask = render(tubes, OBLIQUE_FEET_FIRST, blur_mm=BLUR_MM, noise_hu=NOISE_HU, seed=8)
    segmented = mask & _near(volume, artery, 1.0)[0]
    segmented = _cut(segmented, volume, artery, keep_mm=20.0)

    tree = trace_centerlines(segmented, volume, artery[:1])

    (vessel,) = tree.vessels
    assert vessel.extended_from is not None
    followed = vessel.points_lps_mm[vessel.extended_from :]
    assert distances_to_curve(followed, artery).max() < 0.5
    assert cKDTree(vein).query(followed)[0].min() > 2.0
    assert 40.0 - 2.5 < vessel.length_mm < 40.0 + 1.0
