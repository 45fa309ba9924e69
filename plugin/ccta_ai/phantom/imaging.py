"""Image formation: scan grids, point-spread blur, calcium blooming, correlated noise,
thick calcium-scoring slices and the projection localizer."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ccta_ai.phantom.labels import Anatomy
from ccta_ai.phantom.params import ScanParams
from ccta_ai.phantom.raster import Canvas, Grid

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
FULL_SLICES = (200, 320)
HU_RANGE = (-1024.0, 3071.0)


def plan_ccta_grid(
    scan: ScanParams, lo_mm: np.ndarray, hi_mm: np.ndarray, top_mm: float, bottom_mm: float
) -> Grid:
    """The CCTA grid around the heart (body-frame box ``lo_mm``..``hi_mm``); slices
    from ``top_mm`` + margin down to ``bottom_mm`` - margin."""
    centre = 0.5 * (lo_mm + hi_mm)
    centre[:2] += np.asarray(scan.fov_jitter_mm)
    extent = float(max(hi_mm[0] - lo_mm[0], hi_mm[1] - lo_mm[1])) + 24.0
    if scan.matrix:
        matrix = scan.matrix
        spacing = max(scan.pixel_spacing_mm, extent / matrix)
    else:
        spacing = scan.pixel_spacing_mm
        matrix = int(np.ceil(extent / spacing / 8.0) * 8)
    inc = scan.slice_increment_mm
    top, bottom = top_mm + scan.top_margin_mm, bottom_mm - scan.bottom_margin_mm
    n = round((top - bottom) / inc) + 1
    if scan.matrix:
        n = int(np.clip(n, *FULL_SLICES))
    spacing = round(spacing, 4)
    zs = _axis(0.5 * (top + bottom), inc, n, reverse=scan.superior_first)
    ys = _axis(float(centre[1]), spacing, matrix, reverse=False)
    xs = _axis(float(centre[0]), spacing, matrix, reverse=scan.patient_position == "FFS")
    return Grid(zs, ys, xs, np.asarray(scan.table_offset_mm))


def _axis(centre: float, step: float, count: int, reverse: bool) -> np.ndarray:
    """``count`` coordinates ``step`` apart around ``centre`` (rounded start), ascending
    or descending."""
    first = round(centre - 0.5 * (count - 1) * step, 3)
    values = first + np.arange(count) * step
    return values[::-1].copy() if reverse else values


def _sigma(fwhm_mm: float, spacing_mm: np.ndarray) -> np.ndarray:
    return fwhm_mm * FWHM_TO_SIGMA / np.asarray(spacing_mm)


def correlated_noise(
    shape: tuple[int, ...], sigma_vox: np.ndarray, sd_hu: float, rng: np.random.Generator
) -> np.ndarray:
    """Gaussian noise with a Gaussian autocorrelation (``sigma_vox`` per axis) and
    standard deviation ``sd_hu``."""
    white = rng.standard_normal(shape, dtype=np.float32)
    ndimage.gaussian_filter(white, sigma_vox, output=white, mode="wrap", truncate=3.0)
    measured = float(white[(slice(None, None, 3),) * white.ndim].std())
    white *= np.float32(sd_hu / max(measured, 1e-6))
    return white


def form_ccta(canvas: Canvas, scan: ScanParams, rng: np.random.Generator) -> np.ndarray:
    """Blurred, bloomed, noisy CCTA HU from the painted contrast scene."""
    spacing = canvas.grid.spacing_mm
    hu = canvas.contrast
    sigma = _sigma(scan.psf_fwhm_mm, spacing)
    sigma[0] = scan.psf_z_fwhm_mm * FWHM_TO_SIGMA / spacing[0]
    out = ndimage.gaussian_filter(hu, sigma, truncate=3.0)
    _bloom(out, hu, canvas.labels, sigma, _sigma(scan.bloom_fwhm_mm, spacing))
    noise_sigma = _sigma(scan.noise_grain_mm, spacing)
    noise_sigma[0] = 0.6
    out += correlated_noise(out.shape, noise_sigma, scan.noise_sd_hu, rng)
    np.clip(out, *HU_RANGE, out=out)
    return out


def _bloom(
    out: np.ndarray, hu: np.ndarray, labels: np.ndarray, psf: np.ndarray, bloom: np.ndarray
) -> None:
    """Calcium looks larger than it is: its excess over the surroundings is spread by a
    wider kernel than the rest of the image."""
    calcium = labels == Anatomy.PLAQUE_CALCIFIED
    if not calcium.any():
        return
    pad = np.ceil(3.0 * np.maximum(bloom, psf)).astype(int) + 2
    components, _ = ndimage.label(calcium)
    for number, box in enumerate(ndimage.find_objects(components), start=1):
        if box is None:
            continue
        region = tuple(
            slice(max(s.start - p, 0), min(s.stop + p, n))
            for s, p, n in zip(box, pad, out.shape, strict=True)
        )
        mine = components[region] == number  # each component once: the sum is linear
        excess = np.where(mine, np.maximum(hu[region] - 150.0, 0.0), 0.0)
        extra = ndimage.gaussian_filter(excess, bloom) - ndimage.gaussian_filter(excess, psf)
        out[region] += 1.15 * extra.astype(np.float32)


def form_calcium(
    canvas: Canvas, scan: ScanParams, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The non-contrast calcium-scoring series: thick slabs of the plain scene.

    Returns ``(hu, slab_centre_index)``: the slab centres as fractional indices of the
    CCTA grid's axis 0."""
    spacing = canvas.grid.spacing_mm
    sigma = _sigma(scan.calcium_psf_fwhm_mm, spacing)
    sigma[0] = 0.0
    thin = ndimage.gaussian_filter(canvas.plain, sigma, truncate=3.0)
    width = scan.calcium_slice_mm / spacing[0]
    ndimage.uniform_filter1d(thin, max(round(width), 1), axis=0, output=thin)
    n_thin = thin.shape[0]
    count = int((n_thin - 1 - width) // width) + 1
    centres = 0.5 * width + np.arange(count) * width
    k0 = np.floor(centres).astype(int)
    frac = (centres - k0).astype(np.float32)[:, None, None]
    k1 = np.minimum(k0 + 1, n_thin - 1)
    out = (1.0 - frac) * thin[k0] + frac * thin[k1]
    noise_sigma = _sigma(0.9, spacing)
    noise_sigma[0] = 0.0
    out += correlated_noise(out.shape, noise_sigma, scan.calcium_noise_sd_hu, rng)
    np.clip(out, *HU_RANGE, out=out)
    return out.astype(np.float32), centres


def localizer_grid(
    canvas_grid: Grid, body_lo: np.ndarray, body_hi: np.ndarray, spacing_mm: float
) -> Grid:
    """A coarse grid over the whole chest for the frontal scout."""
    z_lo = float(min(canvas_grid.zs.min(), canvas_grid.zs.max())) - 90.0
    z_hi = float(max(canvas_grid.zs.min(), canvas_grid.zs.max())) + 110.0
    zs = round(z_hi, 3) - np.arange(int((z_hi - z_lo) / spacing_mm)) * spacing_mm
    ys = (
        round(float(body_lo[1]) - 10.0, 3)
        + np.arange(int((body_hi[1] - body_lo[1] + 20.0) / spacing_mm)) * spacing_mm
    )
    xs = (
        round(float(body_lo[0]) - 30.0, 3)
        + np.arange(int((body_hi[0] - body_lo[0] + 60.0) / spacing_mm)) * spacing_mm
    )
    return Grid(zs, ys, xs, canvas_grid.offset_mm)


def project_localizer(
    plain_hu: np.ndarray, spacing_mm: float, rng: np.random.Generator
) -> np.ndarray:
    """Frontal (AP) projection: line integral of attenuation through axis 1 (y), shown
    on a CT-like scale (air -1000, dense paths bright)."""
    mu = np.maximum(plain_hu + 1000.0, 0.0) / 1000.0  # relative to water
    path = mu.sum(axis=1) * spacing_mm  # water-equivalent mm, (z, x)
    image = path * 8.0 - 1000.0
    image += rng.normal(0.0, 6.0, image.shape)
    return np.clip(image, -1000.0, 3000.0).astype(np.float32)
