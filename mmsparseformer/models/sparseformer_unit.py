"""A SparseFormer unit: a list of ops applied in order, ``repeats`` times
with shared weights (docs/model.md, "Units and ops")."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath
from torch import Tensor

from ..ops import RoIAdjust, SparseSampling, TokenAttention, TokenMLP

#: The ops of a unit, by the official library's names.
OPS = ('ATTN', 'ROI_ADJ', 'SAMPLING_M', 'MLP')
#: v1: the ops of a sampling unit and of the other units.
V1_SAMPLING_OPS = ('ATTN', 'ROI_ADJ', 'SAMPLING_M', 'MLP')
V1_OPS = ('ATTN', 'MLP')

# Keys of this project's checkpoints before the sampling op owned its
# offsets and mixing (``units.0.offsets.*`` is now
# ``units.0.sampling.offsets.*``).
_LEGACY_PREFIXES = (('offsets.', 'sampling.offsets.'),
                    ('mixing.', 'sampling.mixing.'))


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
            transition (linear + LayerNorm) maps it to ``embed_dims`` when
            they differ.
        norm_eps (float): LayerNorm epsilon of the ops.
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
                 norm_eps: float = 1e-6,
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
        if in_dims is not None and in_dims != embed_dims:
            self.transition = nn.Sequential(
                nn.Linear(in_dims, embed_dims),
                nn.LayerNorm(embed_dims, eps=norm_eps))
        else:
            self.transition = None
        if 'ATTN' in ops:
            self.attn = TokenAttention(embed_dims, num_heads, norm_eps, impl)
        if 'ROI_ADJ' in ops:
            self.roi_adjust = RoIAdjust(embed_dims, norm_eps=norm_eps)
        if 'SAMPLING_M' in ops:
            self.sampling = SparseSampling(
                embed_dims, feat_channels, num_points, norm_eps=norm_eps,
                impl=impl)
        if 'MLP' in ops:
            self.mlp = TokenMLP(embed_dims, mlp_ratio, norm_eps=norm_eps,
                                impl=impl)
        self.drop_paths = nn.ModuleList(
            DropPath(rate) if rate > 0 else nn.Identity()
            for rate in drop_path_rates)

    @property
    def samples(self) -> bool:
        """Whether the unit samples the features (``SAMPLING_M``)."""
        return 'SAMPLING_M' in self.ops

    def forward_once(self, tokens: Tensor, rois: Tensor, feats: Tensor,
                     repeat: int) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """One application of the ops; returns tokens, tubes and sampling
        points (None when the unit does not sample)."""
        drop_path = self.drop_paths[repeat]
        points = None
        for op in self.ops:
            if op == 'ATTN':
                tokens = tokens + drop_path(self.attn(tokens))
            elif op == 'ROI_ADJ':
                rois = self.roi_adjust(tokens, rois, drop_path)
            elif op == 'SAMPLING_M':
                mixed, points = self.sampling(tokens, rois, feats)
                tokens = tokens + drop_path(mixed)
            elif op == 'MLP':
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
        checkpointed = self.with_cp and self.training and \
            torch.is_grad_enabled()
        for repeat in range(self.repeats):
            if checkpointed:
                tokens, rois, points = cp.checkpoint(
                    self.forward_once, tokens, rois, feats, repeat,
                    use_reentrant=False)
            else:
                tokens, rois, points = self.forward_once(
                    tokens, rois, feats, repeat)
            if trace is not None:
                trace.append(dict(repeat=repeat, rois=rois, points=points))
        return tokens, rois

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Read checkpoints written before ``sampling`` owned the offsets
        and the mixing."""
        upgrade_legacy_keys(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
