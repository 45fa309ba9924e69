"""A straight coronary tube in fat with one plaque of known make-up (test helper).

The vessel runs along an oblique axis: lumen radius ``radius_mm`` (contrast; tapering
linearly to ``end_radius_mm`` at its far end where that is given), a healthy
wall ``wall_mm`` thick (soft tissue), fat around. At the lesion (a plateau with cosine
ramps along the axis) the lumen narrows concentrically to ``1 - stenosis`` of its
radius and the outer wall bulges to ``remodelling`` times the healthy outer area; the
space between is plaque: non-calcified (``plaque_hu``), with calcium (``calcium_hu``) in
an angular sector (``calcium_sector_deg``, 360 = all calcified) or, for a spotty
calcification, in a small sphere. Every voxel is supersampled 2x2x2 for partial volume,
then blurred and noised. The plaque's true volumes (mm3, over the healthy wall) are
counted on the supersamples; the lumen mask is the supersampled lumen fraction > 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from analysis_phantom import plateau_bump, steps_matrix, unit
from scipy.ndimage import gaussian_filter

from ccta_ai.imaging.volume import Volume

FAT_HU = -95.0
WALL_HU = 40.0


@dataclass(frozen=True)
class PlaqueTube:
    radius_mm: float = 1.6
    end_radius_mm: float | None = None  # linear taper to this lumen radius (None: none)
    wall_mm: float = 0.4
    length_mm: float = 30.0
    lesion_at_mm: float = 15.0
    plateau_mm: float = 3.0
    ramp_mm: float = 3.0
    stenosis: float = 0.5  # fraction of the lumen diameter lost at the plateau
    remodelling: float = 1.0  # outer area at the plateau / healthy outer area (>= 1)
    lumen_hu: float = 400.0
    plaque_hu: float = 60.0
    calcium_hu: float = 900.0
    calcium_sector_deg: float = 0.0
    spotty_mm: float = 0.0  # diameter of one calcium sphere in the plaque (0: none)
    blur_fwhm_mm: float = 0.6
    # calcium blooms: its excess over 150 HU is spread by this wider kernel (0: none),
    # 1.15 times over, as the phantom's imaging does (ccta_ai.phantom.imaging)
    bloom_fwhm_mm: float = 0.0
    noise_hu: float = 15.0
    seed: int = 0


@dataclass
class PlaqueTruth:
    calcified_mm3: float
    non_calcified_mm3: float
    low_attenuation_mm3: float
    remodelling_index: float
    pct_diameter_stenosis: float
    lesion_s_mm: float


AXIS = unit([0.35, -0.25, 0.9])
START = np.array([10.0, -20.0, 30.0])


def render_plaque_tube(
    tube: PlaqueTube, spacing_mm: float = 0.4
) -> tuple[Volume, np.ndarray, PlaqueTruth]:
    """The volume, its lumen mask and the plaque's truth."""
    steps = steps_matrix((spacing_mm, spacing_mm, spacing_mm), (20.0, -10.0, 5.0))
    end = START + tube.length_mm * AXIS
    end_radius = tube.radius_mm if tube.end_radius_mm is None else tube.end_radius_mm
    outer_max = np.sqrt(tube.remodelling) * (max(tube.radius_mm, end_radius) + tube.wall_mm)
    margin = outer_max + 3.0
    corners = np.array([START, end])
    inverse = np.linalg.inv(steps)
    index = corners @ inverse.T
    low = np.floor(index.min(axis=0) - margin / spacing_mm)
    high = np.ceil(index.max(axis=0) + margin / spacing_mm)
    shape = tuple(int(n) for n in high - low + 1)
    affine = np.eye(4)
    affine[:3, :3] = steps
    affine[:3, 3] = steps @ low

    sub = (np.arange(2) - 0.5) / 2.0
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).reshape(
        -1, 3
    )
    hu = np.zeros(len(grid))
    lumen_fraction = np.zeros(len(grid))
    calcium_fraction = np.zeros(len(grid))
    sub_volume = spacing_mm**3 / 8.0
    totals = {"calcium": 0.0, "plaque": 0.0, "low": 0.0}
    u_axis = np.cross(AXIS, [0.0, 0.0, 1.0])
    u_axis /= np.linalg.norm(u_axis)
    v_axis = np.cross(AXIS, u_axis)
    spotty_centre = START + tube.lesion_at_mm * AXIS
    spotty_radius = 0.5 * tube.spotty_mm
    if tube.spotty_mm:  # in the plaque, half-way between the narrowed lumen and the outer wall
        r_lumen = tube.radius_mm * (1 - tube.stenosis)
        spotty_centre = spotty_centre + u_axis * 0.5 * (r_lumen + outer_max)
    for du in sub:
        for dv in sub:
            for dw in sub:
                points = (grid + np.array([du, dv, dw])) @ steps.T + affine[:3, 3]
                rel = points - START
                s = rel @ AXIS
                radial_vec = rel - s[:, None] * AXIS
                r = np.linalg.norm(radial_vec, axis=1)
                angle = np.degrees(np.arctan2(radial_vec @ v_axis, radial_vec @ u_axis))
                bump = plateau_bump(s, tube.lesion_at_mm, tube.plateau_mm, tube.ramp_mm)
                bump = np.where((s < 0) | (s > tube.length_mm), 0.0, bump)
                healthy_r = tube.radius_mm + (end_radius - tube.radius_mm) * np.clip(
                    s / tube.length_mm, 0.0, 1.0
                )
                lumen_r = healthy_r * (1.0 - tube.stenosis * bump)
                healthy_outer = healthy_r + tube.wall_mm
                outer_r = healthy_outer * np.sqrt(1.0 + (tube.remodelling - 1.0) * bump)
                along = (s >= 0) & (s <= tube.length_mm)
                is_lumen = along & (r < lumen_r)
                in_vessel = along & (r < outer_r)
                is_wall = in_vessel & ~is_lumen
                healthy_wall = along & (r >= healthy_r) & (r < healthy_outer)
                is_plaque = is_wall & ~healthy_wall & (bump > 0)
                calcium = is_plaque & (np.abs(angle) <= tube.calcium_sector_deg / 2.0)
                if tube.spotty_mm:
                    calcium |= np.linalg.norm(points - spotty_centre, axis=1) <= spotty_radius
                    calcium &= in_vessel
                value = np.full(len(points), FAT_HU)
                value[is_wall] = WALL_HU
                value[is_plaque] = tube.plaque_hu
                value[calcium] = tube.calcium_hu
                value[is_lumen & ~calcium] = tube.lumen_hu
                hu += value / 8.0
                lumen_fraction += (is_lumen & ~calcium) / 8.0
                calcium_fraction += calcium / 8.0
                totals["calcium"] += calcium.sum() * sub_volume
                soft = is_plaque & ~calcium
                totals["plaque"] += soft.sum() * sub_volume
                if tube.plaque_hu < 30.0:
                    totals["low"] += soft.sum() * sub_volume
    image = hu.reshape(shape)
    sigma = tube.blur_fwhm_mm / 2.355 / spacing_mm
    image = gaussian_filter(image, sigma)
    if tube.bloom_fwhm_mm > 0:
        excess = calcium_fraction.reshape(shape) * max(tube.calcium_hu - 150.0, 0.0)
        bloom = tube.bloom_fwhm_mm / 2.355 / spacing_mm
        image += 1.15 * (gaussian_filter(excess, bloom) - gaussian_filter(excess, sigma))
    # smoothed noise, rescaled to the requested SD
    noise = gaussian_filter(np.random.default_rng(tube.seed).normal(0.0, 1.0, shape), 0.8)
    image = (image + noise * (tube.noise_hu / max(float(noise.std()), 1e-6))).astype(np.float32)
    truth = PlaqueTruth(
        calcified_mm3=totals["calcium"],
        non_calcified_mm3=totals["plaque"],
        low_attenuation_mm3=totals["low"],
        remodelling_index=tube.remodelling,
        pct_diameter_stenosis=100.0 * tube.stenosis,
        lesion_s_mm=tube.lesion_at_mm,
    )
    return Volume(image, affine), (lumen_fraction > 0.5).reshape(shape), truth
