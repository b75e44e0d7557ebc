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

# The 8 corners of a voxel cell as (dx, dy, dt) offsets.
_CORNERS = torch.tensor([[dx, dy, dt] for dx in (0, 1) for dy in (0, 1)
                         for dt in (0, 1)])


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
    padding of ``grid_sample``.

    Args:
        points (Tensor): ``(B, N, P, 3)`` points ``(x, y, t)`` in ``[0, 1]``.

    Returns:
        tuple[Tensor, Tensor]: ``(B*N*P, 8)`` int64 rows and weights.
    """
    size = points.new_tensor([width, height, frames])
    coords = points * size - 0.5  # continuous voxel index (x, y, t)
    low = coords.floor()
    frac = (coords - low).unsqueeze(-2)  # (B, N, P, 1, 3)
    corners = _CORNERS.to(points.device)
    index = low.long().unsqueeze(-2) + corners  # (B, N, P, 8, 3)
    weights = torch.where(corners.bool(), frac, 1 - frac).prod(dim=-1)
    limits = torch.tensor([width, height, frames], device=points.device)
    inside = ((index >= 0) & (index < limits)).all(dim=-1)
    strides = torch.tensor([1, width, width * height], device=points.device)
    rows = (index * strides).sum(dim=-1)
    batch_offset = torch.arange(points.shape[0], device=points.device)
    rows = rows + batch_offset.view(-1, 1, 1, 1) * (frames * height * width)
    weights = weights * inside
    rows = rows * inside
    return rows.view(-1, 8), weights.view(-1, 8)


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
