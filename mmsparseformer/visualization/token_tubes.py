"""Drawing token tubes and sampling points over video frames (numpy +
Pillow), and laying the panels out as an animation and a contact sheet.

Every function here is pure: frames and geometry in, ``uint8`` arrays out.
Geometry is in the pixels of the frames drawn on (see
:mod:`~mmsparseformer.visualization.geometry` for the conventions):
tubes ``(K, 6)`` as ``(x1, y1, t1, x2, y2, t2)`` with pixel ``x, y`` and
normalised ``t``, points ``(K, P, 3)`` as ``(x, y, t)``.
"""
import colorsys
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .geometry import box_pixels, frame_distance, nearest_frame, tube_alpha

__all__ = [
    'token_colors', 'blend_mask', 'outline_mask', 'dot_mask',
    'draw_token_tubes', 'scale_geometry', 'resize_frames', 'label_strip',
    'animation_frames', 'contact_sheet', 'select_rows'
]

#: Background of headers and gaps.
BACKGROUND = (24, 24, 24)
#: Text colour.
TEXT = (235, 235, 235)


def token_colors(indices: Sequence[int]) -> np.ndarray:
    """A fixed colour per token index (golden-ratio hue steps, saturated):
    ``(K, 3)`` uint8, the same for the same index everywhere."""
    colors = []
    for index in np.asarray(indices, np.int64).reshape(-1):
        hue = (0.61803398875 * int(index)) % 1.
        value = 1. if index % 2 == 0 else 0.85
        colors.append(colorsys.hsv_to_rgb(hue, 0.85, value))
    return np.round(np.asarray(colors, np.float64).reshape(-1, 3) *
                    255).astype(np.uint8)


def blend_mask(image: np.ndarray, region: Tuple[slice, slice],
               mask: np.ndarray, color: Sequence[int], alpha: float) -> None:
    """Blend ``color`` with opacity ``alpha`` into ``image[region][mask]``
    in place."""
    if alpha <= 0 or not mask.any():
        return
    patch = image[region]
    mixed = patch[mask].astype(np.float32) * (1. - alpha) + \
        np.asarray(color, np.float32) * alpha
    patch[mask] = np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def outline_mask(box: Sequence[float], width: int, hw: Sequence[int]
                 ) -> Optional[Tuple[Tuple[slice, slice], np.ndarray]]:
    """The outline of a continuous box ``(x1, y1, x2, y2)``, ``width``
    pixels thick, drawn inwards from its first and last pixels; clipped to
    an ``H x W`` canvas. ``None`` when nothing of it is on the canvas."""
    bounds = box_pixels(box)
    if bounds is None:
        return None
    x0, y0, x1, y1 = bounds
    height, width_px = hw
    if x1 < 0 or y1 < 0 or x0 >= width_px or y0 >= height:
        return None
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x1, width_px - 1), min(y1, height - 1)
    ys = np.arange(cy0, cy1 + 1)[:, None]
    xs = np.arange(cx0, cx1 + 1)[None, :]
    mask = (ys < y0 + width) | (ys > y1 - width) | \
        (xs < x0 + width) | (xs > x1 - width)
    return (slice(cy0, cy1 + 1), slice(cx0, cx1 + 1)), mask


def dot_mask(x: float, y: float, radius: int, hw: Sequence[int]
             ) -> Optional[Tuple[Tuple[slice, slice], np.ndarray]]:
    """A disc of ``radius`` pixels around the pixel holding ``(x, y)``,
    clipped to the canvas; ``None`` when off the canvas."""
    if not (np.isfinite(x) and np.isfinite(y)):
        return None
    px, py = int(np.floor(x)), int(np.floor(y))
    height, width = hw
    if not (-radius <= px < width + radius and -radius <= py < height +
            radius):
        return None
    cx0, cy0 = max(px - radius, 0), max(py - radius, 0)
    cx1, cy1 = min(px + radius, width - 1), min(py + radius, height - 1)
    if cx0 > cx1 or cy0 > cy1:
        return None
    ys = np.arange(cy0, cy1 + 1)[:, None] - py
    xs = np.arange(cx0, cx1 + 1)[None, :] - px
    mask = ys * ys + xs * xs <= radius * radius + radius
    return (slice(cy0, cy1 + 1), slice(cx0, cx1 + 1)), mask


def draw_token_tubes(frames: np.ndarray,
                     tubes: np.ndarray,
                     points: Optional[np.ndarray] = None,
                     colors: Optional[np.ndarray] = None,
                     line_width: int = 2,
                     point_radius: int = 1,
                     fade_frames: float = 2.,
                     min_alpha: float = 0.,
                     view_box: Optional[Sequence[float]] = None,
                     dim_outside: float = 0.5) -> np.ndarray:
    """Draw ``K`` token tubes and their sampling points over a clip.

    Each tube's box is drawn on every frame with opacity
    :func:`~mmsparseformer.visualization.geometry.tube_alpha` of the
    frame's temporal distance to the tube's ``[t1, t2]``; each sampling
    point is a dot on its nearest frame, at full opacity, over a dark ring
    one pixel wider. All boxes are drawn first, then all rings, then all
    dots, so no box or ring hides a dot.

    Args:
        frames: ``(T, H, W, 3)`` uint8 RGB.
        tubes: ``(K, 6)`` tubes, ``x, y`` in pixels of ``frames``.
        points: ``(K, P, 3)`` sampling points or ``None``.
        colors: ``(K, 3)`` uint8; defaults to :func:`token_colors` of
            ``0..K-1``.
        line_width, point_radius: in pixels.
        fade_frames, min_alpha: see ``tube_alpha``.
        view_box: ``(x1, y1, x2, y2)`` of what the model saw; outside it the
            frame is darkened by ``dim_outside`` and its border is drawn.

    Returns:
        ``(T, H, W, 3)`` uint8, a new array.
    """
    frames, tubes, points, colors = _checked_geometry(frames, tubes, points,
                                                      colors)
    out = frames.copy()
    if view_box is not None:
        _mark_view(out, view_box, dim_outside)
    alphas = tube_alpha(
        frame_distance(len(frames), tubes[:, 2], tubes[:, 5]), fade_frames,
        min_alpha)  # (T, K)
    _draw_boxes(out, tubes, colors, alphas, line_width)
    if points is not None:
        _draw_points(out, points, colors, point_radius)
    return out


def _checked_geometry(frames, tubes, points, colors) -> tuple:
    """``frames``, ``tubes`` ``(K, 6)``, ``points`` ``(K, P, 3)`` (or
    ``None``) and ``colors`` ``(K, 3)`` as arrays, checked to agree."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError('frames must be uint8 of shape (T, H, W, 3), got '
                         f'{frames.dtype} {frames.shape}')
    tubes = np.asarray(tubes, np.float64).reshape(-1, 6) if np.size(
        tubes) else np.zeros((0, 6))
    num_tokens = len(tubes)
    if points is not None:
        points = np.asarray(points, np.float64)
        if points.ndim != 3 or points.shape[0] != num_tokens or \
                points.shape[-1] != 3:
            raise ValueError(f'points must have shape ({num_tokens}, P, 3) '
                             f'for {num_tokens} tubes, got {points.shape}')
    colors = token_colors(range(num_tokens)) if colors is None else \
        np.asarray(colors, np.uint8).reshape(-1, 3)
    if len(colors) != num_tokens:
        raise ValueError(f'{len(colors)} colours for {num_tokens} tubes')
    return frames, tubes, points, colors


def _draw_boxes(out: np.ndarray, tubes: np.ndarray, colors: np.ndarray,
                alphas: np.ndarray, line_width: int) -> None:
    """Each tube's box on every frame, with that frame's opacity."""
    hw = out.shape[1:3]
    for k, tube in enumerate(tubes):
        outline = outline_mask(tube[[0, 1, 3, 4]], line_width, hw)
        if outline is not None:
            for f, frame in enumerate(out):
                blend_mask(frame, outline[0], outline[1], colors[k],
                           float(alphas[f, k]))


def _draw_points(out: np.ndarray, points: np.ndarray, colors: np.ndarray,
                 point_radius: int) -> None:
    """Every sampling point as a dot on its nearest frame: first a dark
    ring under every dot, then the dots, so no ring hides a dot."""
    hw = out.shape[1:3]
    point_frames = nearest_frame(points[..., 2], len(out))  # (K, P)
    for radius, dark in ((point_radius + 1, True), (point_radius, False)):
        for k in range(len(points)):
            color, alpha = ((0, 0, 0), 0.6) if dark else (colors[k], 1.)
            for p in range(points.shape[1]):
                dot = dot_mask(points[k, p, 0], points[k, p, 1], radius, hw)
                if dot is not None:
                    blend_mask(out[point_frames[k, p]], dot[0], dot[1], color,
                               alpha)


def _mark_view(frames: np.ndarray, view_box: Sequence[float],
               dim: float) -> None:
    """Darken outside the model's view and draw its border, in place."""
    height, width = frames.shape[1:3]
    bounds = box_pixels(view_box)
    if bounds is None:
        return
    x0, y0, x1, y1 = bounds
    inside = np.zeros((height, width), bool)
    inside[max(y0, 0):max(y1 + 1, 0), max(x0, 0):max(x1 + 1, 0)] = True
    if dim > 0 and not inside.all():
        frames[:, ~inside] = np.round(frames[:, ~inside] *
                                      (1. - dim)).astype(np.uint8)
        outline = outline_mask(view_box, 1, (height, width))
        if outline is not None:
            for frame in frames:
                blend_mask(frame, outline[0], outline[1], (255, 255, 255),
                           0.6)


def scale_geometry(array: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Scale the ``x, y`` of tubes ``(..., 6)``, points ``(..., 3)`` or
    boxes ``(..., 4)`` from one frame size to another."""
    array = np.asarray(array, np.float64).copy()
    last = array.shape[-1]
    if last == 6:
        array[..., [0, 3]] *= sx
        array[..., [1, 4]] *= sy
    elif last == 3:
        array[..., 0] *= sx
        array[..., 1] *= sy
    elif last == 4:
        array[..., [0, 2]] *= sx
        array[..., [1, 3]] *= sy
    else:
        raise ValueError(f'Cannot scale geometry of shape {array.shape}')
    return array


def resize_frames(frames: np.ndarray, height: Optional[int]
                  ) -> Tuple[np.ndarray, float, float]:
    """Frames resized to ``height`` (aspect kept; ``None`` keeps them), and
    the ``x``, ``y`` scale factors."""
    frames = np.asarray(frames)
    if height is None or height == frames.shape[1]:
        return frames, 1., 1.
    if height < 1:
        raise ValueError(f'panel height must be >= 1, got {height}')
    src_h, src_w = frames.shape[1:3]
    width = max(1, int(round(src_w * height / src_h)))
    interp = cv2.INTER_AREA if height < src_h else cv2.INTER_LINEAR
    out = np.stack(
        [cv2.resize(frame, (width, height), interpolation=interp)
         for frame in frames])
    return out, width / src_w, height / src_h


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def label_strip(width: int, texts: Sequence[str], widths: Sequence[int],
                height: int = 18) -> np.ndarray:
    """A ``height x width`` header with ``texts[i]`` at the left of the
    ``i``-th column (columns of ``widths`` pixels, separated by ``gap``)."""
    image = Image.new('RGB', (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = _font(max(8, height - 6))
    left = 0
    for text, column in zip(texts, widths):
        draw.text((left + 3, 2), text, fill=TEXT, font=font)
        left += column
    return np.asarray(image)


def animation_frames(panels: np.ndarray, column_labels: Sequence[str],
                     frame_labels: Sequence[str], gap: int = 2,
                     header: int = 18) -> np.ndarray:
    """One animation frame per clip frame: the columns' panels side by side
    under a header naming each column and the frame.

    Args:
        panels: ``(T, C, h, w, 3)`` uint8.
    Returns:
        ``(T, header + h, C * w + (C - 1) * gap, 3)`` uint8.
    """
    panels = np.asarray(panels)
    num_frames, num_columns, height, width = panels.shape[:4]
    if len(column_labels) != num_columns or len(frame_labels) != num_frames:
        raise ValueError(f'{len(column_labels)} column labels and '
                         f'{len(frame_labels)} frame labels for panels of '
                         f'shape {panels.shape}')
    total = num_columns * width + (num_columns - 1) * gap
    out = np.empty((num_frames, header + height, total, 3), np.uint8)
    out[:] = BACKGROUND
    for f in range(num_frames):
        texts = [f'{label}  {frame_labels[f]}' if c == 0 else label
                 for c, label in enumerate(column_labels)]
        out[f, :header] = label_strip(total, texts, [width + gap] *
                                      num_columns, header)
        for c in range(num_columns):
            left = c * (width + gap)
            out[f, header:, left:left + width] = panels[f, c]
    return out


def select_rows(num_frames: int, max_rows: Optional[int]) -> np.ndarray:
    """At most ``max_rows`` frame indices, evenly spread, first and last
    included."""
    if max_rows is None or num_frames <= max_rows:
        return np.arange(num_frames)
    if max_rows < 1:
        raise ValueError(f'max_rows must be >= 1, got {max_rows}')
    return np.unique(np.round(np.linspace(0, num_frames - 1,
                                          max_rows)).astype(np.int64))


def contact_sheet(panels: np.ndarray,
                  column_labels: Sequence[str],
                  frame_labels: Sequence[str],
                  max_rows: Optional[int] = 8,
                  gap: int = 2,
                  header: int = 18,
                  row_label_width: int = 64,
                  title: Optional[str] = None) -> Tuple[np.ndarray, List[int]]:
    """A grid of panels: rows = frames (at most ``max_rows``, evenly
    spread), columns = units.

    Returns:
        The sheet ``(H, W, 3)`` uint8 and the frame index of each row.
    """
    panels = np.asarray(panels)
    num_frames, num_columns, height, width = panels.shape[:4]
    rows = select_rows(num_frames, max_rows)
    top = header * (2 if title else 1)
    sheet_w = row_label_width + num_columns * (width + gap)
    sheet_h = top + len(rows) * (height + gap)
    image = Image.new('RGB', (sheet_w, sheet_h), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = _font(max(8, header - 6))
    if title:
        draw.text((3, 2), title, fill=TEXT, font=font)
    for c, label in enumerate(column_labels):
        draw.text((row_label_width + c * (width + gap) + 3, top - header + 2),
                  label, fill=TEXT, font=font)
    for r, f in enumerate(rows):
        y = top + r * (height + gap)
        draw.text((3, y + 2), frame_labels[f], fill=TEXT, font=font)
        for c in range(num_columns):
            x = row_label_width + c * (width + gap)
            image.paste(Image.fromarray(panels[f, c]), (x, y))
    return np.asarray(image), [int(f) for f in rows]
