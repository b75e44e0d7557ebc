"""A SparseFormer unit: a list of ops applied in order, ``repeats`` times
with shared weights (docs/model.md, "Units and ops")."""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor

from ..ops import (RoIAdjust, SparseSampling, TokenAttention, TokenMLP,
                   TubePositionEncoding)

#: The ops of a unit, by the official library's names.
OPS = ('ATTN', 'ROI_ADJ', 'SAMPLING_M', 'MLP', 'PE_INJECT')
#: The ops that read or change the tubes.
TUBE_OPS = ('ROI_ADJ', 'SAMPLING_M', 'PE_INJECT')

# Keys of this project's checkpoints before the sampling op owned its
# offsets and mixing (``units.0.offsets.*`` is now
# ``units.0.sampling.offsets.*``).
_LEGACY_PREFIXES = (('offsets.', 'sampling.offsets.'),
                    ('mixing.', 'sampling.mixing.'))


@dataclass(frozen=True)
class UnitStyle:
    """The switches that tell SparseFormer v1 from the bootstrapped
    SparseFormers (docs/model.md, "Bootstrapped SparseFormers").

    Attributes:
        norm_eps: LayerNorm epsilon of the ops and transitions.
        roi_adjust_hidden: RoI adjusting by ``LN -> Linear -> GELU ->
            Linear`` (else ``LN -> Linear``), without stochastic depth on
            the adjustments.
        mixing_bias: Biases in the adaptive mixings.
        gen_dims: Inner width of the mixing parameter generator (None:
            ``D // 4``).
        transition_norm: A LayerNorm after a width transition.
        stage_embedding: A learned embedding added before each repetition
            of a repeated unit.
        padding: The sampler's padding, ``'zeros'`` or ``'border'``.
        quick_gelu: QuickGELU in the MLPs of units applied once.
    """
    norm_eps: float = 1e-6
    roi_adjust_hidden: bool = False
    mixing_bias: bool = True
    gen_dims: Optional[int] = None
    transition_norm: bool = True
    stage_embedding: bool = False
    padding: str = 'zeros'
    quick_gelu: bool = False


#: SparseFormer v1 (ICLR 2024).
V1_STYLE = UnitStyle()
#: The SparseFormers bootstrapped from ViTs (CVPR 2024).
BTSP_STYLE = UnitStyle(norm_eps=1e-5, roi_adjust_hidden=True,
                       mixing_bias=False, gen_dims=128,
                       transition_norm=False, stage_embedding=True,
                       padding='border')


def upgrade_legacy_keys(state_dict: dict, prefix: str) -> None:
    """Rename, in place, a unit's keys (under ``prefix``) written before
    the sampling op owned the offsets and the mixing."""
    for old, new in _LEGACY_PREFIXES:
        for key in [k for k in state_dict if k.startswith(prefix + old)]:
            state_dict[prefix + new + key[len(prefix + old):]] = \
                state_dict.pop(key)


class SparseFormerUnit(nn.Module):
    """A unit of SparseFormer: ``ops`` applied in order, once per entry of
    ``drop_path_rates`` (shared weights), each residual branch through
    stochastic depth.

    Args:
        embed_dims (int): Token width of the unit.
        ops (Sequence[str]): Op names from :data:`OPS`, in order.
        drop_path_rates (Sequence[float]): One stochastic-depth rate per
            repetition; their count is the number of repeats.
        num_heads (int): Attention heads.
        mlp_ratio (float): Hidden width ratio of the MLP.
        feat_channels (int): Channels of the early-convolution features.
        num_points (int): Sampling points per token.
        in_dims (int, optional): Token width of the previous unit; a
            transition (linear, and a LayerNorm in v1) maps it to
            ``embed_dims`` when they differ.
        style (UnitStyle): v1 or bootstrapped switches.
        with_cp (bool): Recompute each repetition in the backward pass
            (``torch.utils.checkpoint``) instead of storing its activations.
        impl (str): Implementation setting of the ops
            (:mod:`mmsparseformer.ops.impl`).
    """

    def __init__(self,
                 embed_dims: int,
                 ops: Sequence[str],
                 drop_path_rates: Sequence[float],
                 num_heads: int,
                 mlp_ratio: float,
                 feat_channels: int,
                 num_points: int,
                 in_dims: Optional[int] = None,
                 style: UnitStyle = V1_STYLE,
                 with_cp: bool = False,
                 impl: str = 'auto') -> None:
        super().__init__()
        unknown = [op for op in ops if op not in OPS]
        if unknown or len(set(ops)) != len(ops):
            raise ValueError(f'ops {list(ops)}: each op at most once, from '
                             f'{list(OPS)}')
        self.embed_dims = embed_dims
        self.ops = tuple(ops)
        self.repeats = len(drop_path_rates)
        self.with_cp = with_cp
        eps = style.norm_eps
        self.transition = None
        if in_dims is not None and in_dims != embed_dims:
            layers = [nn.Linear(in_dims, embed_dims)]
            if style.transition_norm:
                layers.append(nn.LayerNorm(embed_dims, eps=eps))
            self.transition = nn.Sequential(*layers)
        self.stage_embeddings = None
        if style.stage_embedding and self.repeats > 1:
            self.stage_embeddings = nn.Parameter(
                torch.zeros(self.repeats, embed_dims))
        self._build_ops(style, num_heads, mlp_ratio, feat_channels,
                        num_points, impl)
        self.drop_paths = nn.ModuleList(
            DropPath(rate) if rate > 0 else nn.Identity()
            for rate in drop_path_rates)

    def _build_ops(self, style: UnitStyle, num_heads: int, mlp_ratio: float,
                   feat_channels: int, num_points: int, impl: str) -> None:
        dims, eps, ops = self.embed_dims, style.norm_eps, self.ops
        if 'ATTN' in ops:
            self.attn = TokenAttention(dims, num_heads, eps, impl)
        if 'ROI_ADJ' in ops:
            self.roi_adjust = RoIAdjust(
                dims, dims if style.roi_adjust_hidden else None,
                drop_path_deltas=not style.roi_adjust_hidden, norm_eps=eps)
        if 'SAMPLING_M' in ops:
            self.sampling = SparseSampling(
                dims, feat_channels, num_points, style.gen_dims,
                style.mixing_bias, style.padding, eps, impl)
        if 'MLP' in ops:
            act = 'quick_gelu' if style.quick_gelu and self.repeats == 1 \
                else 'gelu'
            self.mlp = TokenMLP(dims, mlp_ratio, act, eps, impl)
        if 'PE_INJECT' in ops:
            self.pe_inject = TubePositionEncoding(dims, eps)

    def init_weights(self) -> None:
        if self.stage_embeddings is not None:
            trunc_normal_(self.stage_embeddings, std=0.02)

    @property
    def samples(self) -> bool:
        """Whether the unit samples the features (``SAMPLING_M``)."""
        return 'SAMPLING_M' in self.ops

    def forward_once(self,
                     tokens: Tensor,
                     rois: Tensor,
                     feats: Tensor,
                     repeat: int,
                     key_bias: Optional[Tensor] = None
                     ) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """One application of the ops; returns tokens, tubes and sampling
        points (None when the unit does not sample)."""
        drop_path = self.drop_paths[repeat]
        if self.stage_embeddings is not None:
            tokens = tokens + self.stage_embeddings[repeat]
        points = None
        for op in self.ops:
            if op == 'ATTN':
                tokens = tokens + drop_path(self.attn(tokens, key_bias))
            elif op == 'ROI_ADJ':
                rois = self.roi_adjust(tokens, rois, drop_path)
            elif op == 'SAMPLING_M':
                mixed, points = self.sampling(tokens, rois, feats)
                tokens = tokens + drop_path(mixed)
            elif op == 'MLP':
                tokens = tokens + drop_path(self.mlp(tokens))
            elif op == 'PE_INJECT':
                tokens = tokens + self.pe_inject(rois)
        return tokens, rois, points

    def forward(self,
                tokens: Tensor,
                rois: Tensor,
                feats: Tensor,
                trace: Optional[List[dict]] = None,
                key_bias: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """All repetitions; appends each one's tubes and points to
        ``trace`` when given. ``key_bias`` goes to the attention."""
        if self.transition is not None:
            tokens = self.transition(tokens)
        checkpointed = self.with_cp and self.training and \
            torch.is_grad_enabled()
        for repeat in range(self.repeats):
            args = (tokens, rois, feats, repeat, key_bias)
            if checkpointed:
                tokens, rois, points = cp.checkpoint(
                    self.forward_once, *args, use_reentrant=False)
            else:
                tokens, rois, points = self.forward_once(*args)
            if trace is not None:
                trace.append(dict(repeat=repeat, rois=rois, points=points))
        return tokens, rois

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Read checkpoints written before ``sampling`` owned the offsets
        and the mixing."""
        upgrade_legacy_keys(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
