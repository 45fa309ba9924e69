"""The ascending aorta and aortic root by HU and shape rules (no network).

The coronary ostia lie on the aortic root, so the tree cannot be rooted without it.
The ascending aorta is the most recognisable structure of a CCTA: a bright, round,
wide tube above the heart that ends, going down, in the aortic root and the left
ventricle. Classical CCTA pipelines find it the same way (a circle tracked over axial
slices); it needs no training and does not depend on a phantom's conventions.

1. **blood level** — on a ~1 mm copy, the upper blood-pool HU (90th percentile of
   150–900 HU) sets a threshold halfway between myocardium and blood;
2. **circles** — in each axial slice (the voxel axis nearest the patient's head-foot
   axis), bright pieces whose inscribed radius is 8–25 mm and that are round
   (inscribed / equivalent radius ≥ 0.7); the share of the 2 mm ring around each that
   is bone (≥ 500 HU) is kept: vertebral bodies are round and blood-bright too;
3. **tracks** — circles linked from slice to slice (centre moving less than half a
   radius, radius within ±35 % of the last and under 1.35 times the track's median, so a
   track stops where the root opens into the ventricle), at least 15 mm long;
4. **choice** — among tracks that do not run out of the bottom of the volume (that is
   the descending aorta) nor are walled by bone (median ring share above 0.2): when a
   coronary lumen mask is given, those with at least a quarter as much lumen within
   20 mm of the wall of their lowest 25 mm (the root, where the LM and RCA leave) as
   the track with the most (the descending aorta has none near it, wherever the track
   stops; a vena cava full of undiluted contrast has none either, however bright);
   of those the bright ones (median HU ≥ 80 % of the brightest's: the pulmonary trunk
   is dimmer, right heart); of those the long ones (at least 75 % of the longest: the
   atria and broken pieces of the descending aorta are shorter); of those the one with
   the most coronary lumen touching its lowest 25 mm, then the longest;
5. **root** — the track ends at the annulus where it narrows there and widens again
   below (the outflow tract and ventricle); where it just stops, the bright voxels
   within 1.25 radii of its axis are added for at most ``root_mm`` (12 mm) below;
6. **full resolution** — the coarse mask, dilated by one voxel, cuts the bright voxels of
   the volume itself; its largest piece is the aorta.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from ccta_ai.analysis.segment_refine import largest_component
from ccta_ai.imaging.volume import Volume


@dataclass(frozen=True)
class AortaOptions:
    coarse_mm: float = 1.0
    min_radius_mm: float = 8.0
    max_radius_mm: float = 25.0
    min_roundness: float = 0.7  # inscribed radius / equivalent-disc radius
    min_track_mm: float = 15.0
    max_gap_mm: float = 5.0  # a track may miss its circle over this many mm of slices
    link_shift: float = 0.5  # centre may move this fraction of the radius per slice
    link_radius_ratio: float = 1.35
    max_growth: float = 1.35  # a track's radius stays under this times its median (root,
    #                          not the ventricle it opens into)
    min_relative_hu: float = 0.8
    bottom_margin_mm: float = 6.0  # a track ending this close to the bottom leaves it
    min_relative_length: float = 0.75  # of the longest candidate track
    bone_hu: float = 500.0
    max_bone_ring: float = 0.2  # a vertebral body is walled by cortex; the aorta is not
    root_mm: float = 12.0
    root_radius_factor: float = 1.25
    waist: float = 0.85  # a narrowing to this times the median radius, below the
    #                      sinuses and before a widening, is the annulus: the track ends
    lumen_near_mm: float = 25.0  # the ostia lie in the track's lowest 25 mm...
    lumen_touch_mm: float = 4.0  # ... within 4 mm of its wall
    lumen_around_mm: float = 20.0  # coronary lumen this near the root's wall...
    min_relative_lumen: float = 0.25  # ... at least this share of the most a track has
    blood_percentiles: tuple[float, ...] = (90.0, 75.0, 50.0)  # of 150-700 HU, tried in turn


@dataclass
class Circle:
    slice_index: int  # coarse axial index, increasing towards the feet
    centre: np.ndarray  # coarse in-plane index (2,)
    radius_mm: float  # inscribed
    median_hu: float
    bone_ring: float = 0.0  # share of the 2 mm ring around it above ``bone_hu``


@dataclass
class AortaResult:
    mask: np.ndarray  # bool, the volume's grid
    found: bool
    radius_mm: float = 0.0
    median_hu: float = 0.0
    notes: list[str] = field(default_factory=list)


def find_aorta(
    volume: Volume,
    lumen: np.ndarray | None = None,
    options: AortaOptions | None = None,
    blood_hu: float | None = None,
) -> AortaResult:
    """The ascending aorta and root of ``volume`` (see the module docstring); with
    ``lumen`` (the coronary lumen on the same grid), the track whose lower end has the
    most lumen nearby wins among equally bright candidates. ``blood_hu`` (the coronary
    lumen's HU, when known) sets the first threshold tried; bone can push the
    percentiles of a weakly enhanced study above its blood."""
    options = options or AortaOptions()
    empty = np.zeros(volume.shape, dtype=bool)
    axial, down = _axial_axis(volume)
    order = [axial] + [a for a in range(3) if a != axial]
    spacing = volume.spacing_mm[order]
    stride = np.maximum(1, np.round(options.coarse_mm / spacing)).astype(int)
    step = [slice(None, None, int(s)) for s in stride]
    raw = np.transpose(volume.hu, order)[tuple(step)]
    hu = ndimage.uniform_filter(raw, size=3)
    if not down:
        hu, raw = hu[::-1], raw[::-1]
    coarse_spacing = spacing * stride
    bright_values = hu[(hu >= 150.0) & (hu <= 700.0)]
    if bright_values.size < 100:
        return AortaResult(empty, False, notes=["no contrast-filled blood: no aorta"])
    lumen_coarse = None
    if lumen is not None and lumen.any():
        lumen_coarse = np.transpose(lumen, order)[tuple(step)]
        lumen_coarse = lumen_coarse if down else lumen_coarse[::-1]
    chosen = None
    levels = [float(np.percentile(bright_values, p)) for p in options.blood_percentiles]
    for level in ([blood_hu] if blood_hu else []) + levels:
        threshold = _threshold(level)
        bright = (hu >= threshold) & (hu <= 1000.0)
        circles = [_circles(bright[i], hu[i], raw[i], i, coarse_spacing[1:], options)
                   for i in range(len(hu))]
        tracks = _link(circles, coarse_spacing, options)
        chosen = _choose(tracks, len(hu), coarse_spacing, lumen_coarse, options) if tracks else None
        if chosen is not None:
            break
    if chosen is None:
        return AortaResult(empty, False, notes=["no ascending aorta was found: no round, bright "
                                                "tube that ends in the heart"])
    track, at_annulus = chosen
    hu_level = float(np.median([c.median_hu for c in track]))
    threshold = _threshold(hu_level)
    bright = (hu >= threshold) & (hu <= 1000.0)
    coarse_mask = _paint(track, bright, coarse_spacing, options, extend=not at_annulus)
    if not down:
        coarse_mask = coarse_mask[::-1]
    mask = _full_resolution(volume, coarse_mask, order, stride, threshold)
    radius = float(np.median([c.radius_mm for c in track]))
    length = len(track) * coarse_spacing[0]
    notes = [f"ascending aorta: radius {radius:.1f} mm, {hu_level:.0f} HU, "
             f"{length:.0f} mm tracked (HU rules)"]
    return AortaResult(mask, bool(mask.any()), radius, hu_level, notes)


def _threshold(blood_hu: float) -> float:
    """Halfway between contrast-filled blood and myocardium (about 120 HU)."""
    return max(150.0, 0.5 * (blood_hu + 120.0))


def _axial_axis(volume: Volume) -> tuple[int, bool]:
    """The voxel axis nearest the head-foot axis, and whether its index runs footwards."""
    directions = volume.affine[:3, :3] / volume.spacing_mm
    axis = int(np.argmax(np.abs(directions[2])))
    return axis, bool(directions[2, axis] < 0)


def _circles(
    bright: np.ndarray,
    hu: np.ndarray,
    raw: np.ndarray,
    index: int,
    spacing: np.ndarray,
    options: AortaOptions,
) -> list[Circle]:
    bright = ndimage.binary_fill_holes(bright)
    labels, count = ndimage.label(bright)
    if count == 0:
        return []
    pixel_mm2 = float(spacing[0] * spacing[1])
    areas = np.bincount(labels.ravel()) * pixel_mm2
    distance = ndimage.distance_transform_edt(bright, sampling=spacing)
    found = []
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None or areas[label] < np.pi * options.min_radius_mm**2:
            continue
        piece = labels[box] == label
        inside = np.where(piece, distance[box], 0.0)
        radius = float(inside.max())
        equivalent = float(np.sqrt(areas[label] / np.pi))
        if not options.min_radius_mm <= radius <= options.max_radius_mm:
            continue
        if radius / equivalent < options.min_roundness:
            continue
        peak = np.unravel_index(int(np.argmax(inside)), inside.shape)
        centre = np.array([peak[0] + box[0].start, peak[1] + box[1].start], dtype=np.float64)
        core = inside >= 0.5 * radius
        grown = tuple(slice(max(0, b.start - 3), b.stop + 3) for b in box)
        whole = labels[grown] == label
        ring = ndimage.binary_dilation(whole, iterations=max(1, round(2.0 / spacing.min())))
        ring &= ~whole
        bone = float(np.mean(raw[grown][ring] >= options.bone_hu)) if ring.any() else 0.0
        found.append(Circle(index, centre, radius, float(np.median(hu[box][core])), bone))
    return found


def _link(
    circles: list[list[Circle]], spacing: np.ndarray, options: AortaOptions
) -> list[list[Circle]]:
    """Chains of circles over consecutive slices (top to bottom). A chain survives up
    to ``max_gap_mm`` of slices without a circle (where a coronary or the atrial
    appendage touching the aorta spoils its roundness); the missing circles are
    interpolated."""
    max_misses = int(options.max_gap_mm / spacing[0])
    open_tracks: list[tuple[list[Circle], int]] = []  # (track, slices missed since its last)
    done: list[list[Circle]] = []
    for index, slice_circles in enumerate(circles):
        continued: list[tuple[list[Circle], int]] = []
        used: set[int] = set()
        for track, misses in open_tracks:
            last = track[-1]
            best, best_shift = None, np.inf
            typical = float(np.median([c.radius_mm for c in track]))
            for number, circle in enumerate(slice_circles):
                if number in used:
                    continue
                shift_mm = float(np.linalg.norm((circle.centre - last.centre) * spacing[1:]))
                ratio = max(circle.radius_mm, last.radius_mm) / min(circle.radius_mm,
                                                                      last.radius_mm)
                if shift_mm <= options.link_shift * last.radius_mm + spacing[0] * (1 + misses) and (
                    ratio <= options.link_radius_ratio
                ) and circle.radius_mm <= options.max_growth * typical and shift_mm < best_shift:
                    best, best_shift = number, shift_mm
            if best is not None:
                used.add(best)
                continued.append(([*track, *_between(last, slice_circles[best]),
                                   slice_circles[best]], 0))
            elif misses < max_misses and index < len(circles) - 1:
                continued.append((track, misses + 1))
            else:
                done.append(track)
        continued.extend(([c], 0) for n, c in enumerate(slice_circles) if n not in used)
        open_tracks = continued
    done.extend(track for track, _ in open_tracks)
    return [t for t in done if len(t) * spacing[0] >= options.min_track_mm]


def _between(first: Circle, second: Circle) -> list[Circle]:
    """Circles interpolated on the slices strictly between ``first`` and ``second``."""
    gap = second.slice_index - first.slice_index
    return [
        Circle(first.slice_index + k, first.centre + (second.centre - first.centre) * k / gap,
               first.radius_mm + (second.radius_mm - first.radius_mm) * k / gap,
               first.median_hu, first.bone_ring)
        for k in range(1, gap)
    ]


def _choose(
    tracks: list[list[Circle]],
    n_slices: int,
    spacing: np.ndarray,
    lumen: np.ndarray | None,
    options: AortaOptions,
) -> tuple[list[Circle], bool] | None:
    """The ascending aorta's track, cut at the annulus, and whether it was cut there."""
    cut_at_annulus: dict[int, bool] = {}
    trimmed = []
    for track in tracks:
        kept, cut = _trim(track, spacing[0], options)
        cut_at_annulus[id(kept)] = cut
        trimmed.append(kept)
    bottom = n_slices - 1 - options.bottom_margin_mm / spacing[0]
    candidates = [
        t for t in trimmed
        if t[-1].slice_index < bottom
        and float(np.median([c.bone_ring for c in t])) <= options.max_bone_ring
    ]
    if not candidates:
        return None
    # The coronaries leave the aortic root: a tube with far less coronary lumen around
    # its lower end than another is not the ascending aorta, however long or bright
    # (the descending aorta, or a vena cava full of undiluted contrast).
    near = [_lumen_near(t, lumen, spacing, options) for t in candidates]
    if max(near) > 0:
        candidates = [t for t, n in zip(candidates, near, strict=True)
                      if n >= options.min_relative_lumen * max(near)]
    # the pulmonary trunk is dimmer (right heart)
    levels = [float(np.median([c.median_hu for c in t])) for t in candidates]
    brightest = max(levels)
    candidates = [t for t, level in zip(candidates, levels, strict=True)
                  if level >= options.min_relative_hu * brightest]
    # the ascending aorta is a long tube: the atria, which the circumflex passes, and
    # broken pieces of the descending aorta are shorter
    lengths = [(t[-1].slice_index - t[0].slice_index + 1) * spacing[0] for t in candidates]
    longest = max(lengths)
    candidates = [t for t, n in zip(candidates, lengths, strict=True)
                  if n >= options.min_relative_length * longest]
    best = max(candidates, key=lambda t: (_touching(t, lumen, spacing, options),
                                          t[-1].slice_index - t[0].slice_index))
    return best, cut_at_annulus[id(best)]


def _lumen_near(
    track: list[Circle], lumen: np.ndarray | None, spacing: np.ndarray, options: AortaOptions
) -> int:
    """Coronary lumen voxels within ``lumen_around_mm`` of the wall of the track's lowest
    ``lumen_near_mm`` (the root, where the LM and RCA start); 0 without a lumen mask."""
    if lumen is None:
        return 0
    last = track[-1].slice_index
    low = [c for c in track if (last - c.slice_index) * spacing[0] <= options.lumen_near_mm]
    reach = max(c.radius_mm for c in low) + options.lumen_around_mm
    first = max(0, int(low[0].slice_index - reach / spacing[0]))
    stop = min(lumen.shape[0], int(np.ceil(last + reach / spacing[0])) + 1)
    points = np.argwhere(lumen[first:stop]).astype(np.float64)
    if not len(points):
        return 0
    points[:, 0] += first
    points *= spacing
    centres = np.array([[c.slice_index, *c.centre] for c in low], dtype=np.float64) * spacing
    radii = np.array([c.radius_mm for c in low])
    distance, which = cKDTree(centres).query(points)
    return int(np.count_nonzero(distance <= radii[which] + options.lumen_around_mm))


def _touching(
    track: list[Circle], lumen: np.ndarray | None, spacing: np.ndarray, options: AortaOptions
) -> int:
    """Lumen voxels within ``lumen_touch_mm`` of the track's lowest ``lumen_near_mm``
    (where the ostia are); 0 without a lumen mask."""
    if lumen is None:
        return 0
    near = 0
    rows, cols = np.ogrid[: lumen.shape[1], : lumen.shape[2]]
    last = track[-1].slice_index
    for circle in track:
        if (last - circle.slice_index) * spacing[0] > options.lumen_near_mm:
            continue
        d2 = (((rows - circle.centre[0]) * spacing[1]) ** 2
              + ((cols - circle.centre[1]) * spacing[2]) ** 2)
        reach = (circle.radius_mm + options.lumen_touch_mm) ** 2
        near += int(lumen[circle.slice_index][d2 <= reach].sum())
    return near


def _trim(
    track: list[Circle], spacing_mm: float, options: AortaOptions
) -> tuple[list[Circle], bool]:
    """The track down to the aortic annulus when it runs on into the outflow tract:
    the first clear narrowing of its lower half (below ``waist`` times its median
    radius; the narrowest circle of the next 10 mm), if the track goes on below it.
    Also says whether it was cut there."""
    radii = np.array([c.radius_mm for c in track])
    typical = float(np.median(radii))
    half = len(track) // 2
    narrow = np.flatnonzero(radii[half:] < options.waist * typical)
    if not len(narrow):
        return track, False
    start = half + int(narrow[0])
    window = radii[start : start + max(1, int(10.0 / spacing_mm))]
    waist = start + int(np.argmin(window))
    if waist < len(track) - 1:
        return track[: waist + 1], True
    return track, False


def _paint(
    track: list[Circle],
    bright: np.ndarray,
    spacing: np.ndarray,
    options: AortaOptions,
    extend: bool = True,
) -> np.ndarray:
    """The track's bright pieces, and below it the root: bright voxels near its axis."""
    mask = np.zeros(bright.shape, dtype=bool)
    rows, cols = np.ogrid[: bright.shape[1], : bright.shape[2]]

    def disc(centre: np.ndarray, radius_mm: float) -> np.ndarray:
        d2 = ((rows - centre[0]) * spacing[1]) ** 2 + ((cols - centre[1]) * spacing[2]) ** 2
        return np.asarray(d2 <= radius_mm**2)

    for circle in track:
        limit = disc(circle.centre, options.root_radius_factor * circle.radius_mm)
        labels, _ = ndimage.label(bright[circle.slice_index])
        label = labels[int(circle.centre[0]), int(circle.centre[1])]
        if label:
            mask[circle.slice_index] = (labels == label) & limit
    tail = track[-min(5, len(track)):]
    radius = options.root_radius_factor * max(c.radius_mm for c in tail)
    shift = (tail[-1].centre - tail[0].centre) / max(1, len(tail) - 1)
    for offset in range(1, int(options.root_mm / spacing[0]) + 1 if extend else 1):
        index = tail[-1].slice_index + offset
        if index >= len(bright):
            break
        here = tail[-1].centre + shift * offset
        inside = bright[index] & disc(here, radius)
        if inside.sum() * spacing[1] * spacing[2] < 0.25 * np.pi * (radius / 1.3) ** 2:
            break
        mask[index] = inside
    return mask


def _full_resolution(
    volume: Volume, coarse: np.ndarray, order: list[int], stride: np.ndarray, threshold: float
) -> np.ndarray:
    """The coarse (axial-first) mask back on the volume's grid, cut by its bright voxels."""
    coarse = ndimage.binary_dilation(coarse, iterations=1)
    inverse = list(np.argsort(order))
    coarse_native = np.transpose(coarse, inverse)
    stride_native = np.asarray(stride)[inverse]
    found = ndimage.find_objects(coarse_native.astype(np.uint8))
    mask = np.zeros(volume.shape, dtype=bool)
    if not found or found[0] is None:
        return mask
    box = tuple(
        slice(int(s.start * st), min(n, int(s.stop * st)))
        for s, st, n in zip(found[0], stride_native, volume.shape, strict=True)
    )
    index = np.ix_(*[np.minimum(np.arange(b.start, b.stop) // st, c - 1)
                     for b, st, c in zip(box, stride_native, coarse_native.shape, strict=True)])
    near = coarse_native[index]
    piece = near & (volume.hu[box] >= threshold)
    mask[box] = ndimage.binary_fill_holes(largest_component(piece)) & near
    return mask


@dataclass
class AorticRoot:
    """The coronary ostia that lie on the aortic root, and the root's mask."""

    ostia_lps_mm: np.ndarray | None
    mask: np.ndarray
    notes: list[str] = field(default_factory=list)


def ostia_on_the_root(
    ostia_lps_mm: np.ndarray | None, aorta: np.ndarray, volume: Volume, height_mm: float
) -> AorticRoot:
    """Keep the ostia within ``height_mm`` above the aorta's lowest voxel.

    The coronary arteries leave the sinuses of Valsalva, 10-25 mm above the annulus;
    higher up the ascending aorta, a lumen piece touching it is a vessel of the
    mediastinum or the scan's cut edge, not a coronary ostium (on 40 phantom studies,
    every true ostium was 4-34 mm above the lowest aorta voxel, every piece touching the
    aorta higher than that 56-89 mm). Heights are along the patient's head-foot (S)
    axis, whatever the scan's orientation. The aorta's lowest voxel is its root: the
    aorta of :func:`find_aorta` ends there by construction (a track that runs out of the
    volume's bottom is the descending aorta). When no ostium is that low (an aorta mask
    that holds more than the ascending aorta), all are kept and the root is the whole
    mask, as before.
    """
    if not aorta.any():
        return AorticRoot(ostia_lps_mm, aorta)
    voxels = np.argwhere(aorta)
    superior = volume.index_to_lps(voxels.astype(np.float64))[:, 2]
    lowest = float(superior.min())
    root = np.zeros_like(aorta, dtype=bool)
    within = superior <= lowest + height_mm
    root[tuple(voxels[within].T)] = True
    if ostia_lps_mm is None or not len(ostia_lps_mm):
        return AorticRoot(ostia_lps_mm, root)
    ostia = np.asarray(ostia_lps_mm, dtype=np.float64).reshape(-1, 3)
    heights = ostia[:, 2] - lowest
    low = heights <= height_mm
    if not low.any():
        return AorticRoot(
            ostia,
            aorta,
            [
                f"no ostium lies within {height_mm:g} mm above the aorta's lowest point "
                f"(lowest {heights.min():.0f} mm): all {len(ostia)} were kept"
            ],
        )
    notes = [
        f"a lumen piece touching the aorta {h:.0f} mm above its root (LPS "
        f"{', '.join(f'{x:.1f}' for x in point)} mm) is not a coronary ostium "
        f"(they lie within {height_mm:g} mm)"
        for point, h in zip(ostia[~low], heights[~low], strict=True)
    ]
    return AorticRoot(ostia[low], root, notes)
