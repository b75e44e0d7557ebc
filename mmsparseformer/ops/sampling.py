"""``SAMPLING_M``: sparse sampling of the early features inside each tube,
decoded by adaptive mixing (docs/model.md, "Units and ops").

A token predicts ``P`` standardised offsets, which place its sampling points
in its tube; the features there are read by trilinear interpolation and
mixed by a channel mixing ``Mc`` and a point mixing ``Ms`` that the token
itself generates.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .geometry import (NUM_AXES, PADDINGS, clamp_to_border, float32_geometry,
                       sample_trilinear, sampling_points, standardize_offsets)
from .impl import MultiImplOp
from .kernels import VECTOR_LANES


def unit_norm_layer_norm_(norm: nn.LayerNorm) -> None:
    """Initialise a LayerNorm so that its output has unit L2 norm."""
    nn.init.constant_(norm.weight, norm.normalized_shape[0]**-0.5)
    nn.init.zeros_(norm.bias)


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
def sample_pytorch(features: Tensor, points: Tensor,
                   padding: str = 'zeros') -> Tensor:
    """:func:`.geometry.sample_trilinear` by a channels-last gather: the 8
    corner rows of every point summed by one weighted ``embedding_bag``.

    Args:
        features (Tensor): ``(B, C, T, H, W)`` volume (fastest when stored
            channels-last, as the early convolution returns it).
        points (Tensor): ``(B, N, P, 3)`` points ``(x, y, t)`` in ``[0, 1]``.
        padding (str): ``'zeros'`` or ``'border'``.

    Returns:
        Tensor: ``(B, N, P, C)`` sampled features.
    """
    batch, channels, frames, height, width = features.shape
    if padding == 'border':
        points = clamp_to_border(points, frames, height, width)
    table = features.permute(0, 2, 3, 4, 1).reshape(-1, channels)
    rows, weights = trilinear_corners(points, frames, height, width)
    sampled = F.embedding_bag(
        rows, table, per_sample_weights=weights.to(table.dtype), mode='sum')
    return sampled.view(*points.shape[:3], channels)


class SamplingOffsets(nn.Module):
    """Predicts the ``P`` standardised sampling offsets of each token."""

    def __init__(self, embed_dims: int, num_points: int,
                 norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.num_points = num_points
        self.norm = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.fc = nn.Linear(embed_dims, num_points * NUM_AXES, bias=False)
        self.bias = nn.Parameter(torch.zeros(num_points * NUM_AXES))

    def init_weights(self) -> None:
        """Zero adaptive part; the bias spreads the points over the tube.

        Spatially a centred grid when ``P`` is a square (random otherwise),
        temporally a random permutation of evenly spaced times.
        """
        unit_norm_layer_norm_(self.norm)
        nn.init.zeros_(self.fc.weight)
        points = self.num_points
        bias = self.bias.data.view(points, NUM_AXES)
        root = math.isqrt(points)
        if root * root == points:
            centres = torch.linspace(0.5 / root, 1 - 0.5 / root, root) - 0.5
            grid_y, grid_x = torch.meshgrid(centres, centres, indexing='ij')
            bias[:, 0] = grid_x.reshape(-1)
            bias[:, 1] = grid_y.reshape(-1)
        else:
            nn.init.uniform_(bias[:, :2], -0.5, 0.5)
        times = torch.linspace(0.5 / points, 1 - 0.5 / points, points) - 0.5
        bias[:, 2] = times[torch.randperm(points)]

    def forward(self, tokens: Tensor) -> Tensor:
        offsets = self.fc(self.norm(tokens)) + self.bias
        offsets = offsets.view(*tokens.shape[:2], self.num_points, NUM_AXES)
        return standardize_offsets(offsets)


class AdaptiveMixing(nn.Module):
    """Decodes the sampled features with token-conditioned mixing.

    ``theta = fc2(fc1(norm(token)))`` gives a channel mixing ``Mc`` (C x C)
    and a point mixing ``Ms`` (P' x P); then ``S <- GELU(S Mc + b_c)``,
    ``S <- GELU(Ms S + b_s)`` and ``out_proj(flatten(S))``. Without mixing
    biases (the bootstrapped SparseFormers) the two mixings are applied
    back to back with one GELU after both: ``S <- GELU(Ms S Mc)``.

    Args:
        embed_dims (int): Token width ``D``.
        in_channels (int): Feature channels ``C``.
        num_points (int): Sampling points ``P``.
        gen_dims (int, optional): Inner width of the parameter generator
            (default ``D // 4``).
        mixing_bias (bool): Whether the mixings have biases ``b_c, b_s``.
    """

    def __init__(self,
                 embed_dims: int,
                 in_channels: int,
                 num_points: int,
                 gen_dims: Optional[int] = None,
                 mixing_bias: bool = True) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_points = num_points
        self.out_points = max(num_points, 32)
        self.norm = nn.LayerNorm(embed_dims, eps=1e-5)
        self.fc1 = nn.Linear(embed_dims, gen_dims or embed_dims // 4)
        self.fc2 = nn.Linear(self.fc1.out_features,
                             in_channels**2 + self.out_points * num_points)
        if mixing_bias:
            self.channel_bias = nn.Parameter(torch.zeros(in_channels))
            self.point_bias = nn.Parameter(torch.zeros(self.out_points))
        else:
            self.channel_bias = self.point_bias = None
        self.out_proj = nn.Linear(self.out_points * in_channels, embed_dims)

    def init_weights(self) -> None:
        unit_norm_layer_norm_(self.norm)
        nn.init.zeros_(self.fc2.weight)
        channel_part = self.in_channels**2
        bias = self.fc2.bias.data
        nn.init.xavier_uniform_(bias[:channel_part].view(
            self.in_channels, self.in_channels))
        nn.init.xavier_uniform_(bias[channel_part:].view(
            self.num_points, self.out_points))

    def mixing_weights(self, tokens: Tensor) -> Tuple[Tensor, Tensor]:
        """Channel ``(B, N, C, C)`` and point ``(B, N, P', P)`` mixings."""
        params = self.fc2(self.fc1(self.norm(tokens)))
        channel, point = params.split(
            [self.in_channels**2, self.out_points * self.num_points], dim=-1)
        shape = tokens.shape[:2]
        return (channel.view(*shape, self.in_channels, self.in_channels),
                point.view(*shape, self.out_points, self.num_points))

    def forward(self, sampled: Tensor, tokens: Tensor) -> Tensor:
        """``sampled``: ``(B, N, P, C)``; returns ``(B, N, D)``."""
        channel_mixing, point_mixing = self.mixing_weights(tokens)
        batch, num_tokens = tokens.shape[:2]
        sampled = sampled.to(channel_mixing.dtype).flatten(0, 1)
        channel_mixing = channel_mixing.flatten(0, 1)
        point_mixing = point_mixing.flatten(0, 1)
        if self.channel_bias is None:
            mixed = torch.bmm(sampled, channel_mixing)
            mixed = F.gelu(torch.bmm(point_mixing, mixed))
        else:  # biases fused into the matmuls, as in the official library
            mixed = F.gelu(
                torch.baddbmm(
                    self.channel_bias.to(sampled.dtype), sampled,
                    channel_mixing))
            mixed = F.gelu(
                torch.baddbmm(
                    self.point_bias.to(mixed.dtype)[:, None], point_mixing,
                    mixed))
        return self.out_proj(mixed.view(batch, num_tokens, -1))

    def forward_kernel(self, features: Tensor, points: Tensor,
                       tokens: Tensor) -> Tensor:
        """Samples ``features`` at ``points`` (zeros padding) and mixes, as
        ``forward(sample_trilinear(features, points), tokens)`` does, by
        the compiled CPU kernel, in blocks of tokens: neither the
        ``(B, N, P, C)`` samples nor the ``(B, N, C*C + P'*P)`` mixing
        parameters exist whole."""
        hidden = self.fc1(self.norm(tokens))
        channel_bias, point_bias = self.channel_bias, self.point_bias
        if channel_bias is None:
            channel_bias = hidden.new_zeros(self.in_channels)
            point_bias = hidden.new_zeros(self.out_points)
        mixed = torch.ops.mmsparseformer.sample_mix(
            features, points, hidden.reshape(-1, hidden.shape[-1]),
            self.fc2.weight, self.fc2.bias, channel_bias, point_bias,
            self.channel_bias is not None)
        return self.out_proj(mixed)


class SparseSampling(MultiImplOp):
    """Sampling points in each tube, trilinear sampling and adaptive mixing
    (the residual branch of ``SAMPLING_M``).

    Args:
        embed_dims (int): Token width ``D``.
        feat_channels (int): Early-feature channels ``C``.
        num_points (int): Sampling points ``P`` per token.
        gen_dims (int, optional): Inner width of the mixing parameter
            generator (default ``D // 4``).
        mixing_bias (bool): Whether the mixings have biases.
        padding (str): ``'zeros'`` or ``'border'`` outside the volume.
        norm_eps (float): Epsilon of the offsets' LayerNorm.
        impl (str): Implementation setting (:mod:`.impl`): ``'reference'``
            samples with ``grid_sample``, ``'pytorch'`` with
            :func:`sample_pytorch`, the kernel samples and mixes in blocks.
    """

    def __init__(self,
                 embed_dims: int,
                 feat_channels: int,
                 num_points: int,
                 gen_dims: Optional[int] = None,
                 mixing_bias: bool = True,
                 padding: str = 'zeros',
                 norm_eps: float = 1e-6,
                 impl: str = 'auto') -> None:
        super().__init__(impl)
        if padding not in PADDINGS:
            raise ValueError(f'padding={padding!r}: choose from '
                             f'{list(PADDINGS)}')
        self.padding = padding
        self.offsets = SamplingOffsets(embed_dims, num_points, norm_eps)
        self.mixing = AdaptiveMixing(embed_dims, feat_channels, num_points,
                                     gen_dims, mixing_bias)

    def kernel_unsupported(self, feats: Tensor) -> Optional[str]:
        if feats.shape[1] % VECTOR_LANES:
            return (f'{feats.shape[1]} feature channels (a multiple of '
                    f'{VECTOR_LANES} is needed)')
        return None

    def forward(self, tokens: Tensor, rois: Tensor,
                feats: Tensor) -> Tuple[Tensor, Tensor]:
        """Tokens ``(B, N, D)``, tubes ``(B, N, 6)`` and features
        ``(B, C, T, H, W)`` -> the mixed branch ``(B, N, D)`` and the
        sampling points ``(B, N, P, 3)``."""
        points = sampling_points(rois, self.offsets(tokens))
        impl = self.resolve_impl(
            feats, points, tokens, *self.mixing.parameters(),
            unsupported=self.kernel_unsupported(feats))
        if impl == 'kernels':
            inside = points if self.padding == 'zeros' else clamp_to_border(
                points, *feats.shape[2:])
            return self.mixing.forward_kernel(feats, inside, tokens), points
        sampler = sample_pytorch if impl == 'pytorch' else sample_trilinear
        sampled = sampler(feats, points, self.padding)
        return self.mixing(sampled, tokens), points
