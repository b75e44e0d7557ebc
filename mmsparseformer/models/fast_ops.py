"""Fast implementations of the early convolution, the sampler and the
attention.

Each function computes exactly what its reference in :mod:`.geometry` /
:mod:`.layers` computes (tests compare them within 1e-5, forward and
gradients); they differ in memory layout and kernels:

- the early convolution runs per frame in channels-last 2D (oneDNN), pools
  before the ReLU (they commute) and standardises channels with
  ``layer_norm`` over the contiguous channel axis; its output is a
  ``(B, C, T, H, W)`` tensor stored channels-last (``channels_last_3d``);
- the sampler gathers the 8 corner vectors of every point from that
  channels-last volume with one ``embedding_bag`` (a weighted sum of rows)
  instead of ``grid_sample``'s strided reads;
- in float32 CPU inference (no autograd, no autocast, no tracing) the
  compiled kernels of :mod:`mmsparseformer.ops` run where they can be
  built: the early convolution (banded im2col + GEMM with pool, ReLU and
  standardisation in cache), the attention (64 heads of dimension 4-8
  vectorised over tokens), sampling + adaptive mixing in blocks of tokens,
  and the MLP's first linear with its GELU.
"""
import torch
import torch.nn.functional as F
from torch import Tensor

from ..ops import ATTENTION_HEAD_DIMS, VECTOR_LANES, load_cpu_kernels
from .geometry import HALF_DTYPES, float32_geometry


def _cpu_autocast() -> bool:
    try:
        return torch.is_autocast_enabled('cpu')
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()


def use_cpu_kernels(*tensors: Tensor) -> bool:
    """Whether the compiled CPU kernels may compute an op on ``tensors``.

    They are inference kernels on float32 CPU tensors: not when autograd
    must record the op, under CPU autocast, or while tracing / scripting /
    compiling (exporters see the PyTorch ops).
    """
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return False
    if hasattr(torch, 'compiler') and torch.compiler.is_compiling():
        return False
    for tensor in tensors:
        if tensor.device.type != 'cpu' or tensor.dtype != torch.float32:
            return False
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return False
    if _cpu_autocast():
        return False
    return load_cpu_kernels()


def attention_kernel_applies(qkv: Tensor, num_heads: int) -> bool:
    """Whether :func:`token_attention_fused` takes these projections."""
    head_dims = qkv.shape[-1] // (3 * num_heads)
    return head_dims in ATTENTION_HEAD_DIMS and use_cpu_kernels(qkv)


def token_attention_fused(qkv: Tensor, num_heads: int) -> Tensor:
    """Multi-head attention from ``(B, N, 3D)`` projections (q; k; v, each
    head-major) to ``(B, N, D)``, by the compiled CPU kernel."""
    return torch.ops.mmsparseformer.token_attention(qkv, num_heads)


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
    if use_cpu_kernels(x, weight, bias):
        return torch.ops.mmsparseformer.early_conv(x, weight, bias, eps)
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


def linear_gelu_kernel_applies(tokens: Tensor, linear: torch.nn.Linear
                               ) -> bool:
    """Whether :func:`linear_gelu_fused` takes this layer and input."""
    return (linear.out_features % VECTOR_LANES == 0
            and linear.bias is not None
            and use_cpu_kernels(tokens, linear.weight, linear.bias))


def linear_gelu_fused(tokens: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``GELU(tokens W^T + b)`` (exact GELU) by the compiled CPU kernel."""
    return torch.ops.mmsparseformer.linear_gelu(tokens, weight, bias)


def mixing_kernel_applies(features: Tensor, points: Tensor, tokens: Tensor,
                          *parameters: Tensor) -> bool:
    """Whether :func:`sample_mix_fused` takes these inputs; ``parameters``
    are the mixing layer's (trainable ones need autograd)."""
    return (features.shape[1] % VECTOR_LANES == 0
            and use_cpu_kernels(features, points, tokens, *parameters))


def sample_mix_fused(features: Tensor, points: Tensor, hidden: Tensor,
                     gen_weight: Tensor, gen_bias: Tensor,
                     channel_bias: Tensor, point_bias: Tensor) -> Tensor:
    """Trilinear sampling and adaptive mixing by the compiled CPU kernel.

    Computes what :func:`sample_trilinear_fast` followed by
    :class:`.layers.AdaptiveMixing` (up to its output projection) compute,
    in blocks of tokens, so that neither the ``(B, N, P, C)`` samples nor the
    ``(B, N, C*C + P'*P)`` mixing parameters exist whole.

    Args:
        features (Tensor): ``(B, C, T, H, W)`` volume (channels-last).
        points (Tensor): ``(B, N, P, 3)`` points in ``[0, 1]``.
        hidden (Tensor): ``(B, N, H)`` input of the parameter generator.
        gen_weight, gen_bias (Tensor): the generator ``Linear(H -> C*C +
            P'*P)``.
        channel_bias (Tensor): ``(C,)``; point_bias (Tensor): ``(P',)``.

    Returns:
        Tensor: ``(B, N, P' * C)`` mixed features.
    """
    return torch.ops.mmsparseformer.sample_mix(
        features, points, hidden.reshape(-1, hidden.shape[-1]), gen_weight,
        gen_bias, channel_bias, point_bias)


__all__ = [
    'attention_kernel_applies', 'early_conv_fast', 'linear_gelu_fused',
    'linear_gelu_kernel_applies', 'mixing_kernel_applies', 'sample_mix_fused',
    'sample_trilinear_fast', 'token_attention_fused', 'trilinear_corners',
    'use_cpu_kernels'
]
