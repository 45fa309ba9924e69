"""PNG previews of a phantom study, for people: an axial slice at the ostia, a coronal
slice, maximum-intensity projections of the coronary tree, the calcium series and the
localizer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from scipy import ndimage

from ccta_ai.phantom.geometry import transport_normals

if TYPE_CHECKING:
    from ccta_ai.phantom.study import PhantomStudy


def window(hu: np.ndarray, center: float, width: float) -> np.ndarray:
    lo = center - width / 2.0
    return (np.clip((hu - lo) / width, 0.0, 1.0) * 255.0).astype(np.uint8)


def _save(array: np.ndarray, spacing_rc: tuple[float, float], path: Path) -> Path:
    """Save a 2D uint8 (or RGB) image with square pixels (rescaled to the spacing)."""
    image = Image.fromarray(array)
    rows, cols = array.shape[:2]
    scale = min(spacing_rc) / 0.5 if max(rows, cols) < 400 else min(spacing_rc) / 0.45
    size = (
        max(int(cols * spacing_rc[1] / min(spacing_rc) * scale), 1),
        max(int(rows * spacing_rc[0] / min(spacing_rc) * scale), 1),
    )
    image.resize(size, Image.Resampling.BILINEAR).save(path)
    return path


def _display_axial(volume_hu: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, bool, bool]:
    """Flip flags so that axial images show the patient's right on the left (x
    increasing to the right) and anterior at the top."""
    flip_cols = affine[0, 2] < 0
    flip_rows = affine[1, 1] < 0
    return volume_hu, flip_rows, flip_cols


def write_previews(study: PhantomStudy, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vol = study.ccta
    hu = vol.hu
    spacing = vol.spacing_mm
    flip_c = vol.affine[0, 2] < 0
    flip_k = vol.affine[2, 0] < 0  # slice 0 is superior: keep it on top in coronal views
    paths = []

    def cols(a: np.ndarray) -> np.ndarray:
        return a[..., ::-1] if flip_c else a

    def superior_up(a: np.ndarray) -> np.ndarray:
        return a if flip_k else a[::-1]

    ostium = np.asarray(study.truth["ostia_lps_mm"]["left"])
    k = int(np.clip(round(vol.lps_to_index(ostium)[0]), 0, hu.shape[0] - 1))
    paths.append(
        _save(cols(window(hu[k], 200, 800)), (spacing[1], spacing[2]), out_dir / "axial_ostia.png")
    )
    right = np.asarray(study.truth["ostia_lps_mm"]["right"])
    k2 = int(np.clip(round(vol.lps_to_index(right)[0]), 0, hu.shape[0] - 1))
    paths.append(
        _save(
            cols(window(hu[k2], 200, 800)),
            (spacing[1], spacing[2]),
            out_dir / "axial_right_ostium.png",
        )
    )
    lumen = study.lumen_labels > 0
    lv = np.argwhere(study.anatomy_labels[:: max(hu.shape[0] // 40, 1)] == 2)
    if len(lv):
        k3 = int(np.median(lv[:, 0])) * max(hu.shape[0] // 40, 1)
        paths.append(
            _save(
                cols(window(hu[k3], 200, 800)), (spacing[1], spacing[2]), out_dir / "axial_mid.png"
            )
        )
    if lumen.any():
        centre = np.mean(np.argwhere(lumen), axis=0).astype(int)
    else:
        centre = np.array(hu.shape) // 2
    paths.append(
        _save(
            superior_up(cols(window(hu[:, centre[1], :], 200, 800))),
            (spacing[0], spacing[2]),
            out_dir / "coronal.png",
        )
    )
    # Coronary tree MIP: the CCTA restricted to a few mm around the labelled lumen.
    near = ndimage.binary_dilation(lumen, iterations=3)
    tree = np.where(near, hu, -100.0).max(axis=1)
    paths.append(
        _save(
            superior_up(cols(window(tree, 250, 900))),
            (spacing[0], spacing[2]),
            out_dir / "mip_tree_coronal.png",
        )
    )
    tree_ax = np.where(near, hu, -100.0).max(axis=0)
    paths.append(
        _save(
            cols(window(tree_ax, 250, 900)),
            (spacing[1], spacing[2]),
            out_dir / "mip_tree_axial.png",
        )
    )
    # Segments in colour (projected along the rows, i.e. a frontal view).
    seg = study.lumen_labels.max(axis=1)
    rng = np.random.default_rng(3)
    palette = np.vstack([[0, 0, 0], rng.integers(70, 256, size=(19, 3))]).astype(np.uint8)
    paths.append(
        _save(
            superior_up(cols(palette[seg])),
            (spacing[0], spacing[2]),
            out_dir / "segments_coronal.png",
        )
    )
    cal = study.calcium
    kc = int(np.clip(round(cal.lps_to_index(ostium)[0]) - 4, 0, cal.shape[0] - 1))
    paths.append(
        _save(
            cols(window(cal.hu[kc], 40, 400)),
            (cal.spacing_mm[1], cal.spacing_mm[2]),
            out_dir / "calcium_axial.png",
        )
    )
    paths.append(_straightened(study, out_dir / "cpr_main_vessels.png"))
    loc = study.localizer_hu
    s = study.localizer_spacing_mm
    paths.append(_save(window(loc, 1200, 2600), (s, s), out_dir / "localizer.png"))
    return paths


def _straightened(study: PhantomStudy, path: Path, half_width_mm: float = 7.0) -> Path:
    """Straightened curved planar reformations of LAD, LCx and RCA side by side
    (0.25 mm pixels; ostium at the top)."""
    vol = study.ccta
    panels = []
    for name in ("LAD", "LCx", "RCA"):
        vessel = next((v for v in study.truth["vessels"] if v["name"] == name), None)
        if vessel is None:
            continue
        points = np.asarray(vessel["points_lps_mm"])
        dense = np.linspace(0, len(points) - 1, 2 * len(points))
        pts = np.stack(
            [np.interp(dense, np.arange(len(points)), points[:, i]) for i in range(3)], 1
        )
        tangent = np.gradient(pts, axis=0)
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
        normal = transport_normals(pts, np.cross(tangent[0], [0.0, 0.0, 1.0]) + 1e-6)
        offsets = np.arange(-half_width_mm, half_width_mm + 0.125, 0.25)
        grid = pts[:, None, :] + offsets[None, :, None] * normal[:, None, :]
        index = vol.lps_to_index(grid.reshape(-1, 3)).T
        hu = ndimage.map_coordinates(vol.hu, index, order=1, mode="nearest")
        panels.append(window(hu.reshape(len(pts), len(offsets)), 250, 900))
        panels.append(np.zeros((len(pts), 6), np.uint8))
    height = max(p.shape[0] for p in panels)
    image = np.hstack([np.pad(p, ((0, height - p.shape[0]), (0, 0))) for p in panels])
    Image.fromarray(image).save(path)
    return path
