"""Building blocks of VideoSparseFormer: the early convolution and the ops
of a unit (attention, RoI adjusting, sparse sampling, adaptive mixing, MLP).

Each op module returns its residual branch (or the new tubes); the unit
adds the branches through stochastic depth.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from torch import Tensor

from .fast_ops import (attention_kernel_applies, early_conv_fast,
                       linear_gelu_fused, linear_gelu_kernel_applies,
                       mixing_kernel_applies, sample_mix_fused,
                       sample_trilinear_fast, token_attention_fused)
from .geometry import (HALF_DTYPES, NUM_AXES, adjust_rois, sample_trilinear,
                       sampling_points, standardize_offsets)

#: LayerNorm epsilon of SparseFormer v1 (the mixing generator uses 1e-5).
LN_EPS = 1e-6


def unit_norm_layer_norm_(norm: nn.LayerNorm) -> None:
    """Initialise a LayerNorm so that its output has unit L2 norm."""
    nn.init.constant_(norm.weight, norm.normalized_shape[0]**-0.5)
    nn.init.zeros_(norm.bias)


def standardize_channels(features: Tensor, eps: float = 1e-5) -> Tensor:
    """``(f - mean_c f) / sqrt(var_c f + eps)`` over dim 1, no affine.

    Half-precision input is promoted: the result is at least float32.
    """
    with torch.autocast(device_type=features.device.type, enabled=False):
        if features.dtype in HALF_DTYPES:
            features = features.float()
        var, mean = torch.var_mean(features, dim=1, unbiased=False,
                                   keepdim=True)
        return (features - mean) / (var + eps).sqrt()


class EarlyConvStem(nn.Module):
    """Per-frame early convolution: conv 7x7/2, ReLU, max-pool 3x3/2 and
    channel standardisation. ``(B, 3, T, H, W) -> (B, C, T, H/4, W/4)``.

    ``fast_path`` selects :func:`.fast_ops.early_conv_fast` (channels-last
    2D, the default); otherwise the direct 3D form of the official library
    runs (3D convolution and max-pool with temporal kernel 1).
    """

    def __init__(self, out_channels: int, fast_path: bool = True) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.fast_path = fast_path
        self.conv = nn.Conv2d(3, out_channels, 7, stride=2, padding=3)

    def init_weights(self) -> None:
        nn.init.kaiming_normal_(
            self.conv.weight, mode='fan_out', nonlinearity='relu')

    def forward_reference(self, x: Tensor) -> Tensor:
        feats = F.conv3d(x, self.conv.weight.unsqueeze(2), self.conv.bias,
                         stride=(1, 2, 2), padding=(0, 3, 3))
        feats = F.max_pool3d(F.relu(feats), (1, 3, 3), (1, 2, 2), (0, 1, 1))
        return standardize_channels(feats)

    def forward(self, x: Tensor) -> Tensor:
        if self.fast_path:
            return early_conv_fast(x, self.conv.weight, self.conv.bias)
        return self.forward_reference(x)


class TokenAttention(nn.Module):
    """Pre-norm multi-head self-attention over the latent tokens.

    ``fast_path`` lets float32 CPU inference use the compiled kernel
    (:func:`.fast_ops.token_attention_fused`); otherwise, and always for
    the reference path, ``scaled_dot_product_attention`` computes it.
    """

    def __init__(self, embed_dims: int, num_heads: int,
                 fast_path: bool = True) -> None:
        super().__init__()
        self.fast_path = fast_path
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} is not divisible by '
                             f'num_heads {num_heads}')
        self.num_heads = num_heads
        self.norm = nn.LayerNorm(embed_dims, eps=LN_EPS)
        self.qkv = nn.Linear(embed_dims, embed_dims * 3)
        self.proj = nn.Linear(embed_dims, embed_dims)

    def forward(self, tokens: Tensor) -> Tensor:
        batch, num_tokens, dims = tokens.shape
        qkv = self.qkv(self.norm(tokens))
        if self.fast_path and attention_kernel_applies(qkv, self.num_heads):
            return self.proj(token_attention_fused(qkv, self.num_heads))
        qkv = qkv.view(batch, num_tokens, 3, self.num_heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(batch, num_tokens, dims))


class TokenMLP(nn.Module):
    """Pre-norm two-layer MLP with GELU.

    ``fast_path`` lets float32 CPU inference compute ``GELU(fc1(x))`` with
    the compiled kernel (:func:`.fast_ops.linear_gelu_fused`).
    """

    def __init__(self, embed_dims: int, mlp_ratio: float,
                 fast_path: bool = True) -> None:
        super().__init__()
        self.fast_path = fast_path
        hidden = int(embed_dims * mlp_ratio)
        self.norm = nn.LayerNorm(embed_dims, eps=LN_EPS)
        self.fc1 = nn.Linear(embed_dims, hidden)
        self.fc2 = nn.Linear(hidden, embed_dims)

    def forward(self, tokens: Tensor) -> Tensor:
        normed = self.norm(tokens)
        if self.fast_path and linear_gelu_kernel_applies(normed, self.fc1):
            return self.fc2(
                linear_gelu_fused(normed, self.fc1.weight, self.fc1.bias))
        return self.fc2(F.gelu(self.fc1(normed)))


class RoIAdjust(nn.Module):
    """Predicts ``(dx, dy, dt, dw, dh, dl)`` from a token (zero-initialised)."""

    def __init__(self, embed_dims: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(embed_dims, eps=LN_EPS)
        self.fc = nn.Linear(embed_dims, 2 * NUM_AXES, bias=False)

    def init_weights(self) -> None:
        unit_norm_layer_norm_(self.norm)
        nn.init.zeros_(self.fc.weight)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.fc(self.norm(tokens))


class SamplingOffsets(nn.Module):
    """Predicts the ``P`` standardised sampling offsets of each token."""

    def __init__(self, embed_dims: int, num_points: int) -> None:
        super().__init__()
        self.num_points = num_points
        self.norm = nn.LayerNorm(embed_dims, eps=LN_EPS)
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
    and a point mixing ``Ms`` (P' x P); then
    ``S <- GELU(S Mc + b_c)``, ``S <- GELU(Ms S + b_s)`` and
    ``out_proj(flatten(S))``.
    """

    def __init__(self,
                 embed_dims: int,
                 in_channels: int,
                 num_points: int,
                 out_points: Optional[int] = None) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_points = num_points
        self.out_points = out_points or max(num_points, 32)
        self.norm = nn.LayerNorm(embed_dims, eps=1e-5)
        self.fc1 = nn.Linear(embed_dims, embed_dims // 4)
        self.fc2 = nn.Linear(embed_dims // 4,
                             in_channels**2 + self.out_points * num_points)
        self.channel_bias = nn.Parameter(torch.zeros(in_channels))
        self.point_bias = nn.Parameter(torch.zeros(self.out_points))
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
        # biases fused into the batched matmuls, as in the official library
        mixed = F.gelu(
            torch.baddbmm(
                self.channel_bias.to(sampled.dtype), sampled,
                channel_mixing.flatten(0, 1)))
        mixed = F.gelu(
            torch.baddbmm(
                self.point_bias.to(mixed.dtype)[:, None],
                point_mixing.flatten(0, 1), mixed))
        return self.out_proj(mixed.view(batch, num_tokens, -1))

    def forward_fused(self, features: Tensor, points: Tensor,
                      tokens: Tensor) -> Tensor:
        """Samples ``features`` at ``points`` and mixes, as
        ``forward(sample_trilinear(features, points), tokens)`` does, by
        the compiled CPU kernel (float32 inference only)."""
        hidden = self.fc1(self.norm(tokens))
        mixed = sample_mix_fused(features, points, hidden, self.fc2.weight,
                                 self.fc2.bias, self.channel_bias,
                                 self.point_bias)
        return self.out_proj(mixed)


class SparseFormerUnit(nn.Module):
    """A SparseFormer unit, applied ``repeats`` times with shared weights.

    Ops in order: ``ATTN``, then for a sampling unit ``ROI_ADJ`` and
    ``SAMPLING_M``, then ``MLP``.

    Args:
        embed_dims (int): Token width of the unit.
        num_heads (int): Attention heads.
        mlp_ratio (float): Hidden width ratio of the MLP.
        drop_path_rates (Sequence[float]): One stochastic-depth rate per
            repetition; their count is the number of repeats.
        sampling (bool): Whether the unit adjusts tubes and samples.
        feat_channels (int): Channels of the early-convolution features.
        num_points (int): Sampling points per token.
        in_dims (int, optional): Token width of the previous unit; a
            transition (linear + LayerNorm) maps it to ``embed_dims`` when
            they differ.
        fast_path (bool): Sample with :func:`.fast_ops.sample_trilinear_fast`
            instead of the ``grid_sample`` reference, and let the attention
            use its compiled CPU kernel.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 mlp_ratio: float,
                 drop_path_rates: Sequence[float],
                 sampling: bool,
                 feat_channels: int,
                 num_points: int,
                 in_dims: Optional[int] = None,
                 fast_path: bool = True) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.fast_path = fast_path
        self.repeats = len(drop_path_rates)
        self.sampling = sampling
        if in_dims is not None and in_dims != embed_dims:
            self.transition = nn.Sequential(
                nn.Linear(in_dims, embed_dims),
                nn.LayerNorm(embed_dims, eps=LN_EPS))
        else:
            self.transition = None
        self.attn = TokenAttention(embed_dims, num_heads, fast_path)
        if sampling:
            self.roi_adjust = RoIAdjust(embed_dims)
            self.offsets = SamplingOffsets(embed_dims, num_points)
            self.mixing = AdaptiveMixing(embed_dims, feat_channels, num_points)
        self.mlp = TokenMLP(embed_dims, mlp_ratio, fast_path)
        self.drop_paths = nn.ModuleList(
            DropPath(rate) if rate > 0 else nn.Identity()
            for rate in drop_path_rates)

    def forward_once(self, tokens: Tensor, rois: Tensor, feats: Tensor,
                     drop_path: nn.Module
                     ) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """One application; returns tokens, tubes and sampling points."""
        tokens = tokens + drop_path(self.attn(tokens))
        points = None
        if self.sampling:
            rois = adjust_rois(rois, drop_path(self.roi_adjust(tokens)))
            points = sampling_points(rois, self.offsets(tokens))
            if self.fast_path and mixing_kernel_applies(
                    feats, points, tokens, *self.mixing.parameters()):
                mixed = self.mixing.forward_fused(feats, points, tokens)
            else:
                sampler = sample_trilinear_fast if self.fast_path \
                    else sample_trilinear
                mixed = self.mixing(sampler(feats, points), tokens)
            tokens = tokens + drop_path(mixed)
        tokens = tokens + drop_path(self.mlp(tokens))
        return tokens, rois, points

    def forward(self,
                tokens: Tensor,
                rois: Tensor,
                feats: Tensor,
                trace: Optional[List[dict]] = None) -> Tuple[Tensor, Tensor]:
        """All repetitions; appends each one's tubes and points to
        ``trace`` when given."""
        if self.transition is not None:
            tokens = self.transition(tokens)
        for repeat, drop_path in enumerate(self.drop_paths):
            tokens, rois, points = self.forward_once(tokens, rois, feats,
                                                     drop_path)
            if trace is not None:
                trace.append(dict(repeat=repeat, rois=rois, points=points))
        return tokens, rois
