"""Painting the scene's layers onto a voxel grid, with partial volume.

Each layer's coverage of a voxel is estimated analytically from its signed distance:
``clip(0.5 - sdf / h, 0, 1)`` with ``h`` the voxel size (a linear edge model of partial
volume). The voxel's HU becomes the mixture of the new tissue and what was there; its
label is the new one where the layer covers at least half of it. Contrast-enhanced and
plain HU are painted together, so the calcium-scoring series shows the same anatomy.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ccta_ai.phantom.geometry import cumulative_length
from ccta_ai.phantom.scene import Hu, Layer
from ccta_ai.phantom.shapes import Shape, Tube, Union, box_spans, tube_fields

COARSE_ABOVE_VOXELS = 400_000
PIECE_MM = 10.0


@dataclass(frozen=True)
class Grid:
    """Voxel centres in the body frame: axis 0 steps along ``zs``, axis 1 along ``ys``,
    axis 2 along ``xs`` (each monotonic, either direction). ``offset_mm`` maps the body
    frame to DICOM patient LPS."""

    zs: np.ndarray
    ys: np.ndarray
    xs: np.ndarray
    offset_mm: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.zs), len(self.ys), len(self.xs))

    @property
    def spacing_mm(self) -> np.ndarray:
        return np.array(
            [
                abs(self.zs[1] - self.zs[0]) if len(self.zs) > 1 else 1.0,
                abs(self.ys[1] - self.ys[0]),
                abs(self.xs[1] - self.xs[0]),
            ]
        )

    @property
    def affine(self) -> np.ndarray:
        """4x4 voxel index (k, r, c) -> LPS mm."""
        a = np.eye(4)
        dz = self.zs[1] - self.zs[0] if len(self.zs) > 1 else 1.0
        a[:3, 0] = [0.0, 0.0, dz]
        a[:3, 1] = [0.0, self.ys[1] - self.ys[0], 0.0]
        a[:3, 2] = [self.xs[1] - self.xs[0], 0.0, 0.0]
        a[:3, 3] = np.array([self.xs[0], self.ys[0], self.zs[0]]) + self.offset_mm
        return a

    def to_index(self, points_body: np.ndarray) -> np.ndarray:
        """Fractional (k, r, c) of body-frame points ``(N, 3)``."""
        p = np.asarray(points_body, dtype=np.float64)
        return np.stack(
            [
                (p[:, 2] - self.zs[0]) / (self.zs[1] - self.zs[0]),
                (p[:, 1] - self.ys[0]) / (self.ys[1] - self.ys[0]),
                (p[:, 0] - self.xs[0]) / (self.xs[1] - self.xs[0]),
            ],
            axis=1,
        )


@dataclass
class VesselLayer:
    """A coronary lumen: HU and SCCT segment per centreline point."""

    name: str
    points: np.ndarray
    radii: np.ndarray
    hu_contrast: np.ndarray
    hu_plain: float
    label: int
    segment: np.ndarray


@dataclass
class Canvas:
    grid: Grid
    contrast: np.ndarray
    plain: np.ndarray
    labels: np.ndarray
    lumen: np.ndarray  # SCCT segment per coronary lumen voxel
    edge_mm: float  # width of the partial-volume ramp (the voxel size)


def new_canvas(grid: Grid, edge_mm: float | None = None) -> Canvas:
    shape = grid.shape
    return Canvas(
        grid=grid,
        contrast=np.full(shape, -1000.0, dtype=np.float32),
        plain=np.full(shape, -1000.0, dtype=np.float32),
        labels=np.zeros(shape, dtype=np.uint8),
        lumen=np.zeros(shape, dtype=np.uint8),
        edge_mm=float(np.mean(grid.spacing_mm)) if edge_mm is None else edge_mm,
    )


def paint_invariant(canvas: Canvas, layers: list[Layer]) -> None:
    """Paint layers that do not change along z (body wall, spine...) on one slice and
    copy it to every slice of the canvas."""
    g = canvas.grid
    z_mid = np.array([0.5 * (g.zs[0] + g.zs[-1])])
    flat = new_canvas(Grid(z_mid, g.ys, g.xs, g.offset_mm), edge_mm=canvas.edge_mm)
    for layer in layers:
        paint(flat, layer)
    canvas.contrast[:] = flat.contrast
    canvas.plain[:] = flat.plain
    canvas.labels[:] = flat.labels


def _value(hu: Hu, zs: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray | float:
    if callable(hu):
        return hu(xs[None, None, :], ys[None, :, None], zs[:, None, None])
    return float(hu)


def _dense_sdf(shape: Shape, zs: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The shape's SDF on the grid; large boxes are evaluated on a grid twice as coarse
    per axis and interpolated linearly (SDFs of smooth shapes are nearly linear at that
    scale)."""
    dims = (len(zs), len(ys), len(xs))
    if int(np.prod(dims)) < COARSE_ABOVE_VOXELS:
        return np.asarray(shape.sdf_grid(zs, ys, xs))
    coarse = [
        np.linspace(c[0], c[-1], (n - 1) // 2 + 1) if n > 8 else c
        for c, n in zip((zs, ys, xs), dims, strict=True)
    ]
    values = np.asarray(shape.sdf_grid(*coarse), dtype=np.float32)
    factors = [n / len(c) for n, c in zip(dims, coarse, strict=True)]
    out = ndimage.zoom(values, factors, order=1, grid_mode=False, prefilter=False)
    if out.shape != dims:  # rounding of the zoomed shape
        raise AssertionError(f"zoom gave {out.shape}, expected {dims}")
    return out


def paint(canvas: Canvas, layer: Layer | VesselLayer) -> None:
    """Paint one layer (later layers cover earlier ones)."""
    if isinstance(layer, VesselLayer):
        paint_tubes(
            canvas,
            [(layer.points, layer.radii)],
            layer.hu_contrast,
            layer.hu_plain,
            layer.label,
            None,
            layer.segment,
        )
        return
    shape = layer.shape
    tubes = _as_tubes(shape)
    if tubes is not None:
        paint_tubes(
            canvas,
            tubes,
            _const(layer.material.contrast),
            _const(layer.material.plain),
            int(layer.label),
            layer.over,
            None,
        )
        return
    g = canvas.grid
    h = canvas.edge_mm
    spans = box_spans(g.zs, g.ys, g.xs, shape.lo - h, shape.hi + h)
    if spans is None:
        return
    zs, ys, xs = g.zs[spans[0]], g.ys[spans[1]], g.xs[spans[2]]
    sdf = _dense_sdf(shape, zs, ys, xs)
    weight = np.clip(np.float32(0.5) - sdf * np.float32(1.0 / h), 0.0, 1.0).astype(np.float32)
    labels = canvas.labels[spans]
    if layer.over is not None:
        weight *= np.isin(labels, np.fromiter(layer.over, dtype=np.uint8))
    for target, hu in (
        (canvas.contrast, layer.material.contrast),
        (canvas.plain, layer.material.plain),
    ):
        block = target[spans]
        block += weight * (np.float32(_value(hu, zs, ys, xs)) - block)
    covered = weight >= 0.5
    labels[covered] = int(layer.label)
    canvas.lumen[spans][covered] = 0


def _const(hu: Hu) -> float:
    if callable(hu):
        raise TypeError("tube layers take constant HU")
    return float(hu)


def _as_tubes(shape: Shape) -> list[tuple[np.ndarray, np.ndarray]] | None:
    if isinstance(shape, Tube):
        return [(shape.points, np.asarray(shape.radii))]
    if isinstance(shape, Union) and shape.k == 0:
        tubes = [c for c in shape.children if isinstance(c, Tube)]
        if len(tubes) == len(shape.children):
            return [(c.points, np.asarray(c.radii)) for c in tubes]
    return None


def paint_tubes(
    canvas: Canvas,
    tubes: list[tuple[np.ndarray, np.ndarray]],
    hu_contrast: np.ndarray | float,
    hu_plain: float,
    label: int,
    over: frozenset[int] | None,
    segment: np.ndarray | None,
) -> None:
    """Paint tubes (polylines with a radius per point) only near their surface.

    Each tube is cut into short pieces; the capsule-chain distance is computed in each
    piece's small box, and the nearest piece wins per voxel. ``hu_contrast`` and
    ``segment`` may be given per point (of a single tube)."""
    g = canvas.grid
    h = canvas.edge_mm
    shape = g.shape
    found_idx, found_sdf, found_near = [], [], []
    for points, radii in tubes:
        pts = np.asarray(points, dtype=np.float64)
        r = np.broadcast_to(np.asarray(radii, dtype=np.float64), (len(pts),))
        r = np.where(r > 0.05, r, -2.0 * h)
        bounds = _pieces(pts)
        for a, b in itertools.pairwise(bounds):
            piece, pr = pts[a : b + 1], r[a : b + 1]
            reach = max(float(pr.max()), 0.0) + 2.0 * h
            spans = box_spans(
                g.zs, g.ys, g.xs, piece.min(axis=0) - reach, piece.max(axis=0) + reach
            )
            if spans is None:
                continue
            sdf, near = tube_fields(
                g.zs[spans[0]], g.ys[spans[1]], g.xs[spans[2]], piece, pr, margin_mm=1.5 * h
            )
            sel = np.nonzero(sdf < 0.5 * h)
            if len(sel[0]) == 0:
                continue
            flat = np.ravel_multi_index(
                (sel[0] + spans[0].start, sel[1] + spans[1].start, sel[2] + spans[2].start), shape
            )
            found_idx.append(flat)
            found_sdf.append(sdf[sel])
            found_near.append(near[sel] + a)
    if not found_idx:
        return
    idx, sdf_all, near_all = (np.concatenate(v) for v in (found_idx, found_sdf, found_near))
    order = np.lexsort((sdf_all, idx))
    idx, sdf_all, near_all = idx[order], sdf_all[order], near_all[order]
    first = np.concatenate([[True], idx[1:] != idx[:-1]])
    idx, sdf_all, near_all = idx[first], sdf_all[first], near_all[first]
    weight = np.clip(0.5 - sdf_all / np.float32(h), 0.0, 1.0).astype(np.float32)
    labels = canvas.labels.reshape(-1)
    if over is not None:
        weight *= np.isin(labels[idx], np.fromiter(over, dtype=np.uint8))
    point = np.clip(np.rint(near_all), 0, None).astype(np.int64)
    if isinstance(hu_contrast, np.ndarray):
        hu_c = hu_contrast[np.minimum(point, len(hu_contrast) - 1)].astype(np.float32)
    else:
        hu_c = np.float32(hu_contrast)
    contrast, plain = canvas.contrast.reshape(-1), canvas.plain.reshape(-1)
    contrast[idx] += weight * (hu_c - contrast[idx])
    plain[idx] += weight * (np.float32(hu_plain) - plain[idx])
    inside = weight >= 0.5
    labels[idx[inside]] = label
    lumen = canvas.lumen.reshape(-1)
    if segment is None:
        lumen[idx[inside]] = 0
    else:
        lumen[idx[inside]] = segment[np.minimum(point[inside], len(segment) - 1)]


def _pieces(points: np.ndarray, piece_mm: float = PIECE_MM) -> np.ndarray:
    """Vertex indices that cut a polyline into pieces of about ``piece_mm``."""
    s = cumulative_length(points)
    cuts = np.searchsorted(s, np.arange(piece_mm, s[-1], piece_mm))
    bounds = np.unique(np.concatenate([[0], cuts, [len(points) - 1]]))
    return bounds if len(bounds) > 1 else np.array([0, len(points) - 1])
