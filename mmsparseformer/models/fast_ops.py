"""Fast CPU/GPU implementations of the early convolution and the sampler.

Each function computes exactly what its reference in :mod:`.geometry` /
:mod:`.layers` computes (tests compare them within 1e-5, forward and
gradients); they differ in memory layout and kernels:

- the early convolution runs per frame in channels-last 2D (oneDNN), pools
  before the ReLU (they commute) and standardises channels with
  ``layer_norm`` over the contiguous channel axis; its output is a
  ``(B, C, T, H, W)`` tensor stored channels-last (``channels_last_3d``);
- the sampler gathers the 8 corner vectors of every point from that
  channels-last volume with one ``embedding_bag`` (a weighted sum of rows)
  instead of ``grid_sample``'s strided reads.
"""
import torch
import torch.nn.functional as F
from torch import Tensor

from .geometry import HALF_DTYPES, float32_geometry

def early_conv_fast(x: Tensor, weight: Tensor, bias: Tensor,
                    eps: float = 1e-5) -> Tensor:
    """Conv 7x7/2 + ReLU + max-pool 3x3/2 + channel standardisation.

    Args:
        x (Tensor): ``(B, 3, T, H, W)`` clips.
        weight (Tensor): ``(C, 3, 7, 7)`` convolution weight.
        bias (Tensor): ``(C,)`` convolution bias.

    Returns:
        Tensor: ``(B, C, T, H/4, W/4)`` features, channels-last in memory.
    """
    batch, channels, frames, height, width = x.shape
    frames_2d = x.permute(0, 2, 3, 4, 1).contiguous().view(
        batch * frames, height, width, channels).permute(0, 3, 1, 2)
    feats = F.conv2d(frames_2d, weight, bias, stride=2, padding=3)
    # max-pool then ReLU == ReLU then max-pool, on 4x fewer values
    feats = F.max_pool2d(feats, 3, 2, 1).relu_()
    feats = feats.permute(0, 2, 3, 1)  # (B*T, H', W', C), contiguous
    with torch.autocast(device_type=x.device.type, enabled=False):
        if feats.dtype in HALF_DTYPES:
            feats = feats.float()
        feats = F.layer_norm(feats, feats.shape[-1:], eps=eps)
    feats = feats.view(batch, frames, *feats.shape[1:])
    return feats.permute(0, 4, 1, 2, 3)


def trilinear_corners(points: Tensor, frames: int, height: int,
                      width: int) -> tuple:
    """Rows and weights of the 8 corners each point interpolates.

    Rows index a ``(B * T * H * W, C)`` channels-last table; corners outside
    the volume get weight 0 (and a valid dummy row), which is the zeros
    padding of ``grid_sample``. Corner order: ``t`` fastest, then ``y``,
    then ``x``.

    Args:
        points (Tensor): ``(B, N, P, 3)`` points ``(x, y, t)`` in ``[0, 1]``.

    Returns:
        tuple[Tensor, Tensor]: ``(B*N*P, 8)`` int64 rows and weights.
    """
    sizes = (width, height, frames)
    strides = (1, width, width * height)
    rows, weights = [], []
    for axis in range(3):
        # continuous voxel index; its two neighbours along this axis
        coord = points[..., axis] * sizes[axis] - 0.5
        low = coord.floor()
        frac = coord - low
        low = low.long()
        pair = torch.stack([low, low + 1], dim=-1)  # (B, N, P, 2)
        inside = (pair >= 0) & (pair < sizes[axis])
        weights.append(torch.stack([1 - frac, frac], dim=-1) * inside)
        rows.append(pair.clamp(0, sizes[axis] - 1) * strides[axis])
    # combine the axes: (x, y, t) -> (..., 2, 2, 2) -> (..., 8)
    weight = (weights[0][..., :, None, None] * weights[1][..., None, :, None]
              * weights[2][..., None, None, :])
    row = (rows[0][..., :, None, None] + rows[1][..., None, :, None] +
           rows[2][..., None, None, :])
    batch = torch.arange(points.shape[0], device=points.device)
    row = row + batch.view(-1, 1, 1, 1, 1, 1) * (frames * height * width)
    return row.view(-1, 8), weight.view(-1, 8)


@float32_geometry
def sample_trilinear_fast(features: Tensor, points: Tensor) -> Tensor:
    """:func:`.geometry.sample_trilinear` by a channels-last gather.

    Args:
        features (Tensor): ``(B, C, T, H, W)`` volume (fastest when stored
            channels-last, as :func:`early_conv_fast` returns it).
        points (Tensor): ``(B, N, P, 3)`` points ``(x, y, t)`` in ``[0, 1]``.

    Returns:
        Tensor: ``(B, N, P, C)`` sampled features.
    """
    batch, channels, frames, height, width = features.shape
    table = features.permute(0, 2, 3, 4, 1).reshape(-1, channels)
    rows, weights = trilinear_corners(points, frames, height, width)
    sampled = F.embedding_bag(
        rows, table, per_sample_weights=weights.to(table.dtype), mode='sum')
    return sampled.view(*points.shape[:3], channels)


__all__ = ['early_conv_fast', 'trilinear_corners', 'sample_trilinear_fast']
