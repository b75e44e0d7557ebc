"""Pure geometry for token-tube pictures: pixel maps through a pipeline's
resizes, crops and flips, and the time axis of a clip.

Pixel coordinates are continuous: pixel ``i`` covers ``[i, i + 1)``, so an
image of width ``W`` spans ``[0, W]``. A normalised model coordinate ``u``
(``grid_sample`` with ``align_corners=False``) is the input pixel ``u * W``.

Time: a clip of ``T`` frames spans ``t`` in ``[0, 1]``; frame ``f`` covers
``[f / T, (f + 1) / T]`` and is read at full weight at its centre
``(f + 0.5) / T`` (sampling at ``t`` reads the continuous index
``t * T - 0.5``).
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'AxisMap', 'resize_map', 'crop_map', 'flip_map', 'normalized_to_pixels',
    'tubes_to_original', 'points_to_original', 'nearest_frame',
    'frame_distance', 'tube_alpha', 'box_pixels'
]


@dataclass(frozen=True)
class AxisMap:
    """An axis-aligned affine pixel map: ``x' = sx * x + bx``,
    ``y' = sy * y + by`` (a negative scale is a flip)."""
    sx: float = 1.
    bx: float = 0.
    sy: float = 1.
    by: float = 0.

    def then(self, other: 'AxisMap') -> 'AxisMap':
        """This map followed by ``other``."""
        return AxisMap(other.sx * self.sx, other.sx * self.bx + other.bx,
                       other.sy * self.sy, other.sy * self.by + other.by)

    def inverse(self) -> 'AxisMap':
        if self.sx == 0 or self.sy == 0:
            raise ValueError(f'{self} is not invertible (a zero scale)')
        return AxisMap(1. / self.sx, -self.bx / self.sx, 1. / self.sy,
                       -self.by / self.sy)

    def apply(self, x: np.ndarray, y: np.ndarray
              ) -> Tuple[np.ndarray, np.ndarray]:
        return self.sx * np.asarray(x) + self.bx, \
            self.sy * np.asarray(y) + self.by


def resize_map(before_hw: Sequence[int], after_hw: Sequence[int]) -> AxisMap:
    """The map of resizing an ``H x W`` image to ``H' x W'`` (edges to
    edges, as ``cv2.resize`` / ``mmcv.imresize`` do)."""
    (h0, w0), (h1, w1) = before_hw, after_hw
    if min(h0, w0, h1, w1) <= 0:
        raise ValueError(f'Cannot resize {tuple(before_hw)} -> '
                         f'{tuple(after_hw)}: empty image')
    return AxisMap(sx=w1 / w0, sy=h1 / h0)


def crop_map(crop_bbox: Sequence[float]) -> AxisMap:
    """The map of cropping ``(left, top, right, bottom)``."""
    left, top = float(crop_bbox[0]), float(crop_bbox[1])
    return AxisMap(bx=-left, by=-top)


def flip_map(direction: str, hw: Sequence[int]) -> AxisMap:
    """The map of flipping an ``H x W`` image."""
    height, width = hw
    if direction == 'horizontal':
        return AxisMap(sx=-1., bx=float(width))
    if direction == 'vertical':
        return AxisMap(sy=-1., by=float(height))
    raise ValueError(f"Unknown flip direction {direction!r}; expected "
                     "'horizontal' or 'vertical'")


def normalized_to_pixels(x: np.ndarray, y: np.ndarray,
                         input_hw: Sequence[int], to_original: AxisMap
                         ) -> Tuple[np.ndarray, np.ndarray]:
    """Normalised model-input coordinates -> original-frame pixels.

    Args:
        x, y: normalised coordinates (``[0, 1]`` spans the model input).
        input_hw: ``(H, W)`` of the model input.
        to_original: the map from model-input pixels to original pixels.
    """
    height, width = input_hw
    return to_original.apply(np.asarray(x, np.float64) * width,
                             np.asarray(y, np.float64) * height)


def tubes_to_original(rois: np.ndarray, input_hw: Sequence[int],
                      to_original: AxisMap) -> np.ndarray:
    """``(..., 6)`` tubes ``(x1, y1, t1, x2, y2, t2)`` in normalised model
    coordinates -> the same with ``x, y`` in original pixels (``x1 <= x2``,
    ``y1 <= y2`` also after a flip); ``t`` is kept normalised."""
    rois = np.asarray(rois, np.float64)
    if rois.shape[-1] != 6:
        raise ValueError('tubes must have 6 values (x1, y1, t1, x2, y2, t2) '
                         f'in the last axis, got shape {rois.shape}')
    x1, y1 = normalized_to_pixels(rois[..., 0], rois[..., 1], input_hw,
                                  to_original)
    x2, y2 = normalized_to_pixels(rois[..., 3], rois[..., 4], input_hw,
                                  to_original)
    return np.stack([
        np.minimum(x1, x2),
        np.minimum(y1, y2), rois[..., 2],
        np.maximum(x1, x2),
        np.maximum(y1, y2), rois[..., 5]
    ], -1)


def model_view_box(input_hw: Sequence[int],
                   to_original: AxisMap) -> np.ndarray:
    """The model's whole input, ``(x1, y1, x2, y2)`` in original pixels."""
    height, width = input_hw
    x, y = to_original.apply(np.array([0., width]), np.array([0., height]))
    return np.array([x.min(), y.min(), x.max(), y.max()])


def points_to_original(points: np.ndarray, input_hw: Sequence[int],
                       to_original: AxisMap) -> np.ndarray:
    """``(..., 3)`` points ``(x, y, t)`` in normalised model coordinates ->
    ``x, y`` in original pixels, ``t`` kept normalised."""
    points = np.asarray(points, np.float64)
    if points.shape[-1] != 3:
        raise ValueError('points must have 3 values (x, y, t) in the last '
                         f'axis, got shape {points.shape}')
    x, y = normalized_to_pixels(points[..., 0], points[..., 1], input_hw,
                                to_original)
    return np.stack([x, y, points[..., 2]], -1)


def nearest_frame(t: np.ndarray, num_frames: int) -> np.ndarray:
    """The frame a time ``t`` reads most: ``round(t * T - 0.5)`` (i.e.
    ``floor(t * T)``), clipped to ``[0, T - 1]``."""
    if num_frames < 1:
        raise ValueError(f'num_frames must be >= 1, got {num_frames}')
    index = np.floor(np.asarray(t, np.float64) * num_frames)
    return np.clip(index, 0, num_frames - 1).astype(np.int64)


def frame_distance(num_frames: int, t1: np.ndarray,
                   t2: np.ndarray) -> np.ndarray:
    """``(T, K)`` distance, in frames, from each frame's centre to each
    tube's time span ``[t1, t2]`` (0 when the centre is inside)."""
    if num_frames < 1:
        raise ValueError(f'num_frames must be >= 1, got {num_frames}')
    lo = np.minimum(t1, t2)[None] * num_frames
    hi = np.maximum(t1, t2)[None] * num_frames
    centre = (np.arange(num_frames, dtype=np.float64) + 0.5)[:, None]
    return np.maximum(0., np.maximum(lo - centre, centre - hi))


def tube_alpha(distance: np.ndarray,
               fade_frames: float = 2.,
               min_alpha: float = 0.) -> np.ndarray:
    """Opacity of a tube's box at a temporal distance (in frames): 1 inside
    the span, falling linearly to ``min_alpha`` at ``fade_frames``."""
    if fade_frames <= 0:
        return np.where(np.asarray(distance) > 0, min_alpha, 1.)
    return np.clip(1. - np.asarray(distance) / fade_frames, min_alpha, 1.)


def box_pixels(box: Sequence[float]) -> Optional[Tuple[int, int, int, int]]:
    """Inclusive pixel bounds ``(x0, y0, x1, y1)`` of a continuous box
    ``(x1, y1, x2, y2)``: the first and last pixels it touches."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if not np.all(np.isfinite([x1, y1, x2, y2])):
        return None
    x0, y0 = int(np.floor(x1)), int(np.floor(y1))
    return x0, y0, max(x0, int(np.ceil(x2)) - 1), max(y0, int(np.ceil(y2)) - 1)
