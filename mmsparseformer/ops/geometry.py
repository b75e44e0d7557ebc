"""Token geometry of VideoSparseFormer as pure functions.

A token's region of interest is a *tube* ``(x1, y1, t1, x2, y2, t2)`` in
coordinates normalised to ``[0, 1]`` (``x`` along the width, ``y`` along the
height, ``t`` along time). All functions here compute in float32, also under
``torch.autocast``, so that mixed-precision training keeps exact geometry.
These are the reference definitions (docs/model.md, "Tube geometry");
faster paths are tested against them.
"""
import functools
from typing import Callable, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

#: Number of axes of a tube (x, y, t).
NUM_AXES = 3
HALF_DTYPES = (torch.float16, torch.bfloat16)


def float32_geometry(func: Callable) -> Callable:
    """Run ``func`` with autocast off and half-precision tensor arguments
    promoted to float32 (float64 stays float64, e.g. for ``gradcheck``)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        tensors = [a for a in args if isinstance(a, Tensor)]
        device_type = tensors[0].device.type if tensors else 'cpu'
        args = [
            a.float() if isinstance(a, Tensor) and a.dtype in HALF_DTYPES
            else a for a in args
        ]
        with torch.autocast(device_type=device_type, enabled=False):
            return func(*args, **kwargs)

    return wrapper


def boxes_to_tubes(boxes: Tensor, replicates: int) -> Tensor:
    """``(N0, 4)`` boxes ``(x1, y1, x2, y2)`` -> ``(N0 * R, 6)`` tubes,
    replicate-major: replicate ``r`` spans time ``[r / R, (r + 1) / R]``."""
    num = boxes.shape[0]
    tubes = []
    for r in range(replicates):
        t1 = boxes.new_full((num, 1), r / replicates)
        t2 = boxes.new_full((num, 1), (r + 1) / replicates)
        tubes.append(torch.cat([boxes[:, :2], t1, boxes[:, 2:], t2], dim=1))
    return torch.cat(tubes)


def roi_center_size(rois: Tensor) -> Tuple[Tensor, Tensor]:
    """Centres ``(cx, cy, ct)`` and signed sizes of tubes ``(..., 6)``."""
    low, high = rois[..., :NUM_AXES], rois[..., NUM_AXES:]
    return (low + high) * 0.5, high - low


@float32_geometry
def adjust_rois(rois: Tensor, deltas: Tensor) -> Tensor:
    """Move and rescale tubes by ``deltas`` (RoI adjusting).

    ``deltas`` is ``(dx, dy, dt, dw, dh, dl)``: the centre moves by
    ``d{x,y,t}`` times the size and the size is multiplied by
    ``exp(d{w,h,l})``.

    Args:
        rois (Tensor): Tubes of shape ``(..., 6)``.
        deltas (Tensor): Adjustments of shape ``(..., 6)``.

    Returns:
        Tensor: The adjusted tubes, ``(..., 6)``.
    """
    center, size = roi_center_size(rois)
    size = size.abs()
    center = center + deltas[..., :NUM_AXES] * size
    size = size * deltas[..., NUM_AXES:].exp()
    return torch.cat([center - 0.5 * size, center + 0.5 * size], dim=-1)


@float32_geometry
def standardize_offsets(offsets: Tensor, eps: float = 1e-5) -> Tensor:
    """Standardise offsets over the points of each token, axis by axis.

    ``o <- (o - mean_p o) / (3 * (std_p o + eps))`` with the unbiased
    standard deviation, so that most points fall within ``[-0.5, 0.5]``
    (relative to the tube size) around the tube centre.

    Args:
        offsets (Tensor): ``(..., P, 3)`` raw offsets.
        eps (float): Added to the standard deviation.

    Returns:
        Tensor: Standardised offsets of the same shape.
    """
    mean = offsets.mean(dim=-2, keepdim=True)
    std = offsets.std(dim=-2, keepdim=True)
    return (offsets - mean) / (3 * (std + eps))


@float32_geometry
def sampling_points(rois: Tensor, offsets: Tensor) -> Tensor:
    """Absolute sampling points ``q = c + o * s`` of each token.

    Args:
        rois (Tensor): Tubes ``(B, N, 6)``.
        offsets (Tensor): Standardised offsets ``(B, N, P, 3)``.

    Returns:
        Tensor: Points ``(B, N, P, 3)`` as ``(x, y, t)`` in ``[0, 1]``
        coordinates.
    """
    center, size = roi_center_size(rois)
    return center.unsqueeze(-2) + offsets * size.unsqueeze(-2)


#: Padding modes of the sampler: zero outside the volume (v1), or the
#: value at the nearest border (the bootstrapped SparseFormers).
PADDINGS = ('zeros', 'border')


@float32_geometry
def sample_trilinear(features: Tensor, points: Tensor,
                     padding: str = 'zeros') -> Tensor:
    """Sample a feature volume at normalised points by trilinear interpolation.

    Semantics of ``F.grid_sample`` with ``align_corners=False``: point
    ``(x, y, t)`` reads the volume at the continuous index
    ``(t * T - 0.5, y * H - 0.5, x * W - 0.5)``; outside the volume the
    value is zero (``padding='zeros'``) or the border's (``'border'``).

    Args:
        features (Tensor): ``(B, C, T, H, W)`` feature volume.
        points (Tensor): ``(B, N, P, 3)`` points ``(x, y, t)`` in ``[0, 1]``.
        padding (str): One of :data:`PADDINGS`.

    Returns:
        Tensor: ``(B, N, P, C)`` sampled features.
    """
    if padding not in PADDINGS:
        raise ValueError(f'padding={padding!r}: choose from {list(PADDINGS)}')
    batch, num_tokens, num_points, _ = points.shape
    grid = (points * 2 - 1).view(batch, num_tokens, num_points, 1, NUM_AXES)
    sampled = F.grid_sample(
        features,
        grid,
        mode='bilinear',  # trilinear for a 5-D input
        padding_mode=padding,
        align_corners=False)  # (B, C, N, P, 1)
    return sampled.squeeze(-1).permute(0, 2, 3, 1)


def clamp_to_border(points: Tensor, frames: int, height: int,
                    width: int) -> Tensor:
    """Points moved onto the centres of the border voxels where they lie
    beyond them: zero-padded sampling at the result is ``'border'``-padded
    sampling at ``points`` (values and gradients)."""
    sizes = points.new_tensor([width, height, frames])
    return torch.minimum(torch.maximum(points, 0.5 / sizes), 1 - 0.5 / sizes)
