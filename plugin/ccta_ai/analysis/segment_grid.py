"""Where the segmentation network looks, and on which grid.

Two grids besides the volume's own:

* the region of interest (ROI): a box of the volume's voxels around the heart's
  contrast-filled blood pool, found by HU rules on a coarse (about 2 mm) copy;
* the network grid: the ROI resampled to an isotropic spacing along the volume's own
  axes, then turned (axes permuted and flipped, no interpolation) into the canonical
  RAS order that the network was trained on.

This module is the only place of the segmentation that handles RAS
(:attr:`Volume.affine_ras`); everything it hands back is on the volume's own grid.
Tensors are ``(channels, x, y, z)`` on the network grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel.orientations as nio
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from scipy import ndimage

from ccta_ai.imaging.volume import Volume


@dataclass(frozen=True)
class RoiOptions:
    """HU rules that find the heart's blood pool (all HU after contrast)."""

    coarse_spacing_mm: float = 2.0
    blood_min_hu: float = 150.0
    blood_max_hu: float = 700.0
    opening_mm: float = 4.0
    min_pool_ml: float = 20.0
    margin_mm: float = 14.0
    min_share: float = 0.25  # pools this fraction of the largest compete ...
    min_thickness_mm: float = 40.0  # ... if this thick in each direction of the slice;
    heart_depth_mm: float = 40.0  # pools centred this close behind the most anterior
    #                               one are the heart (the spine lies 55 mm and more back)


@dataclass(frozen=True)
class Roi:
    """A box ``[low, high)`` of voxel indices of the volume (axes 0, 1, 2)."""

    low: tuple[int, int, int]
    high: tuple[int, int, int]
    found: bool  # False: no blood pool was found and the box is the whole volume

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        return (
            slice(self.low[0], self.high[0]),
            slice(self.low[1], self.high[1]),
            slice(self.low[2], self.high[2]),
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        return (
            self.high[0] - self.low[0],
            self.high[1] - self.low[1],
            self.high[2] - self.low[2],
        )


def find_heart_roi(volume: Volume, options: RoiOptions | None = None) -> Roi:
    """The box around the heart's contrast-filled blood pools (chambers + aortic root:
    the large, thick pools at the front, see :func:`_heart_pools`), widened by
    ``margin_mm``; the whole volume when there is none."""
    options = options or RoiOptions()
    spacing = volume.spacing_mm
    stride = np.maximum(1, np.round(options.coarse_spacing_mm / spacing)).astype(int)
    coarse = volume.hu[:: stride[0], :: stride[1], :: stride[2]]
    coarse_spacing = spacing * stride
    blood = (coarse >= options.blood_min_hu) & (coarse <= options.blood_max_hu)
    radius = np.maximum(1, np.round(options.opening_mm / 2.0 / coarse_spacing)).astype(int)
    blood = ndimage.binary_opening(blood, structure=_box(radius))
    labels, count = ndimage.label(blood)
    whole = Roi((0, 0, 0), volume.shape, found=False)
    if count == 0:
        return whole
    sizes = np.bincount(labels.ravel())[1:]
    boxes = ndimage.find_objects(labels)
    voxel_ml = float(np.prod(coarse_spacing)) / 1000.0
    if sizes.max() * voxel_ml < options.min_pool_ml:
        return whole
    pools = [boxes[index] for index in _heart_pools(volume, labels, sizes, boxes, stride, options)]
    box = tuple(
        slice(min(b[axis].start for b in pools), max(b[axis].stop for b in pools))
        for axis in range(3)
    )
    margin = np.ceil(options.margin_mm / spacing).astype(int)
    low = [max(0, s.start * st - m) for s, st, m in zip(box, stride, margin, strict=True)]
    high = [
        min(n, (s.stop - 1) * st + 1 + m)
        for s, st, m, n in zip(box, stride, margin, volume.shape, strict=True)
    ]
    return Roi((low[0], low[1], low[2]), (high[0], high[1], high[2]), found=True)


def _heart_pools(
    volume: Volume,
    labels: np.ndarray,
    sizes: np.ndarray,
    boxes: list[tuple[slice, ...]],
    stride: np.ndarray,
    options: RoiOptions,
) -> list[int]:
    """Indices of the heart's pools among the large ones: those thick enough (not the
    sternum) whose centre lies within ``heart_depth_mm`` behind the most anterior one
    (so both sides of the heart, which the septum may part, and not the spine marrow
    with the descending aorta, which can outgrow a small heart's pool)."""
    order = np.argsort(sizes)[::-1]
    centres: dict[int, float] = {}
    for candidate in order[:6]:
        if sizes[candidate] < options.min_share * sizes[order[0]]:
            break
        box = boxes[candidate]
        start = np.array([b.start for b in box])
        stop = np.array([b.stop - 1 for b in box])
        corners = volume.index_to_lps(np.stack([start, stop]) * stride)
        span_lr, span_ap = np.abs(corners[1, :2] - corners[0, :2]) + float(
            (volume.spacing_mm * stride).max()
        )
        if min(span_lr, span_ap) < options.min_thickness_mm:
            continue  # a plate (the sternum)
        inside = np.argwhere(labels[box] == candidate + 1).mean(axis=0) + start
        centres[int(candidate)] = float(volume.index_to_lps((inside * stride)[None])[0, 1])
    if not centres:
        return [int(order[0])]
    front = min(centres.values())  # LPS y grows towards the back
    return [c for c, y in centres.items() if y <= front + options.heart_depth_mm]


def _box(radius: np.ndarray) -> np.ndarray:
    return np.ones(tuple(int(2 * r + 1) for r in radius), dtype=bool)


@dataclass(frozen=True)
class NetworkGrid:
    """How the ROI maps to the network grid.

    ``shape`` is the resampled ROI in the volume's axis order; ``order``/``flip``
    turn it into RAS order (``order[i]``: the volume axis that becomes network axis
    ``i``; ``flip[i]``: that axis is reversed).
    """

    roi: Roi
    shape: tuple[int, int, int]
    order: tuple[int, int, int]
    flip: tuple[bool, bool, bool]


def network_grid(volume: Volume, roi: Roi, spacing_mm: float) -> NetworkGrid:
    """Isotropic ``spacing_mm`` over ``roi``, in the RAS order nearest the volume's axes."""
    extent_mm = (np.array(roi.shape) - 1) * volume.spacing_mm
    shape = np.maximum(2, np.round(extent_mm / spacing_mm).astype(int) + 1)
    orientation = nio.io_orientation(volume.affine_ras)  # per volume axis: RAS axis, sign
    order = [0, 0, 0]
    flip = [False, False, False]
    for volume_axis, (ras_axis, sign) in enumerate(orientation):
        order[int(ras_axis)] = volume_axis
        flip[int(ras_axis)] = bool(sign < 0)
    return NetworkGrid(
        roi,
        (int(shape[0]), int(shape[1]), int(shape[2])),
        (order[0], order[1], order[2]),
        (flip[0], flip[1], flip[2]),
    )


def to_network(grid: NetworkGrid, array: np.ndarray, *, labels: bool = False) -> torch.Tensor:
    """A ROI-shaped array (volume axes) → a ``(1, x, y, z)`` float tensor on the
    network grid (trilinear; ``labels``: nearest, for label maps)."""
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None]
    mode = "nearest" if labels else "trilinear"
    align = None if labels else True
    if labels:
        tensor = _nearest_aligned(tensor, grid.shape)
    else:
        tensor = F.interpolate(tensor, size=grid.shape, mode=mode, align_corners=align)
    return _canonical(tensor[0], grid)


def from_network(grid: NetworkGrid, tensor: torch.Tensor) -> torch.Tensor:
    """A ``(c, x, y, z)`` network-grid tensor → ``(c, *roi.shape)`` on the volume's
    grid (trilinear)."""
    native = to_native(grid, tensor)
    whole = tuple(slice(0, n) for n in grid.roi.shape)
    return torch.from_numpy(np.stack([upsample_box(c, grid.roi.shape, whole) for c in native]))


def to_native(grid: NetworkGrid, tensor: torch.Tensor) -> np.ndarray:
    """A ``(c, x, y, z)`` network-grid tensor in the volume's axis order (still on the
    coarse grid: axes permuted and flipped back, no interpolation)."""
    return np.ascontiguousarray(_native(tensor, grid).numpy())


def upsample_box(
    coarse: np.ndarray, fine_shape: tuple[int, ...], box: tuple[slice, ...]
) -> np.ndarray:
    """Trilinear values of ``coarse`` (volume axis order, corner-aligned with a fine
    grid of ``fine_shape``) at the fine voxels of ``box``: the same as upsampling the
    whole array with ``align_corners=True`` and cutting ``box`` out, for a fraction of
    the work."""
    out = np.asarray(coarse, dtype=np.float32)
    for axis in range(3):
        n_coarse, n_fine = coarse.shape[axis], fine_shape[axis]
        fine = np.arange(box[axis].start, box[axis].stop, dtype=np.float64)
        position = fine * ((n_coarse - 1) / max(n_fine - 1, 1))
        lower = np.clip(np.floor(position).astype(int), 0, max(n_coarse - 2, 0))
        upper = np.minimum(lower + 1, n_coarse - 1)
        weight = np.clip(position - lower, 0.0, 1.0).astype(np.float32)
        shape = [1, 1, 1]
        shape[axis] = len(fine)
        weight = weight.reshape(shape)
        below, above = np.take(out, lower, axis=axis), np.take(out, upper, axis=axis)
        out = below * (1 - weight) + above * weight
    return out


def boxes_around(
    coarse_mask: np.ndarray, fine_shape: tuple[int, ...], tile: int
) -> list[tuple[slice, slice, slice]]:
    """Fine-grid tiles (``tile`` voxels a side) that hold any part of ``coarse_mask``
    (grown by one coarse voxel), in the same corner-aligned geometry."""
    from scipy import ndimage

    grown = ndimage.binary_dilation(coarse_mask, structure=np.ones((3, 3, 3), dtype=bool))
    points = np.argwhere(grown).astype(np.float64)
    if len(points) == 0:
        return []
    scale = (np.array(fine_shape) - 1) / np.maximum(np.array(coarse_mask.shape) - 1, 1)
    ids = np.unique(np.floor(points * scale / tile).astype(int), axis=0)
    boxes = []
    for tile_id in ids:
        low = tile_id * tile
        high = np.minimum(low + tile, fine_shape)
        boxes.append((slice(low[0], high[0]), slice(low[1], high[1]), slice(low[2], high[2])))
    return boxes


def _nearest_aligned(tensor: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Nearest-neighbour resampling with the corner-aligned geometry of trilinear."""
    source = tensor.shape[2:]
    index = [
        torch.round(torch.linspace(0, n_in - 1, n_out)).long()
        for n_in, n_out in zip(source, shape, strict=True)
    ]
    return tensor[:, :, index[0]][:, :, :, index[1]][:, :, :, :, index[2]]


def _canonical(tensor: torch.Tensor, grid: NetworkGrid) -> torch.Tensor:
    """``(c, volume axes)`` → ``(c, R, A, S)``."""
    out = tensor.permute(0, *(1 + a for a in grid.order))
    dims = [1 + i for i, f in enumerate(grid.flip) if f]
    return out.flip(dims) if dims else out


def _native(tensor: torch.Tensor, grid: NetworkGrid) -> torch.Tensor:
    """``(c, R, A, S)`` → ``(c, volume axes)`` (inverse of :func:`_canonical`)."""
    dims = [1 + i for i, f in enumerate(grid.flip) if f]
    out = tensor.flip(dims) if dims else tensor
    inverse = np.argsort(grid.order)
    return out.permute(0, *(1 + int(a) for a in inverse))


def window(hu: torch.Tensor, low_hu: float, high_hu: float) -> torch.Tensor:
    """HU → [0, 1] over the intensity window (clipped), the network's input scale."""
    return ((hu - low_hu) / (high_hu - low_hu)).clamp_(0.0, 1.0)
