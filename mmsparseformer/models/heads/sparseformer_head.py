"""Classification head of VideoSparseFormer."""
from typing import Optional

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor

from mmaction.models.heads import BaseHead
from mmaction.registry import MODELS
from ...checkpoint_io import pretrained_checkpoint
from ..checkpoint import load_head_checkpoint

#: How the tokens are pooled: their mean, or the class token (first).
POOLS = ('avg', 'cls')


@MODELS.register_module()
class SparseFormerHead(BaseHead):
    """Pooled tokens -> LayerNorm -> [CLIP projection] -> dropout -> linear
    classifier.

    Label smoothing (``label_smooth_eps``) and multi-view averaging
    (``average_clips``) come from MMAction2's :class:`BaseHead`.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Token width ``D``.
        pool (str): ``'avg'`` (mean of the tokens, SparseFormer v1) or
            ``'cls'`` (the class token, first; the bootstrapped archs).
        proj_dims (int, optional): Width of a projection without bias after
            the norm, kept from a CLIP-bootstrapped checkpoint (512 for
            ``btsp-clip-base``, 768 for ``btsp-clip-large``); the classifier
            then reads the projected embedding. None: no projection.
        norm_eps (float): LayerNorm epsilon (1e-6 v1, 1e-5 bootstrapped).
        dropout_ratio (float): Dropout before the classifier. Defaults to 0.
        init_std (float): Std of the classifier's truncated-normal init.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=...)``
            loads ``norm``, ``proj`` and, when the class count matches,
            ``fc_cls`` from any checkpoint the backbone can load.
        **kwargs: ``loss_cls``, ``label_smooth_eps``, ``topk``,
            ``average_clips``... of :class:`BaseHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 pool: str = 'avg',
                 proj_dims: Optional[int] = None,
                 norm_eps: float = 1e-6,
                 dropout_ratio: float = 0.,
                 init_std: float = 0.02,
                 init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(num_classes, in_channels, init_cfg=init_cfg,
                         **kwargs)
        if pool not in POOLS:
            raise ValueError(f'pool={pool!r}: choose from {list(POOLS)}')
        self.pool = pool
        self.proj_dims = proj_dims
        self.init_std = init_std
        self.norm = nn.LayerNorm(in_channels, eps=norm_eps)
        self.proj = nn.Linear(in_channels, proj_dims, bias=False) \
            if proj_dims else None
        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio else None
        self.fc_cls = self.build_classifier()

    def build_classifier(self) -> Optional[nn.Module]:
        """``Linear(embedding -> num_classes)``."""
        return nn.Linear(self.proj_dims or self.in_channels, self.num_classes)

    def init_weights(self) -> None:
        nn.init.ones_(self.norm.weight)
        nn.init.zeros_(self.norm.bias)
        if self.proj is not None:
            trunc_normal_(self.proj.weight, std=self.in_channels**-0.5)
        if isinstance(self.fc_cls, nn.Linear):
            trunc_normal_(self.fc_cls.weight, std=self.init_std)
            nn.init.zeros_(self.fc_cls.bias)
        checkpoint = pretrained_checkpoint(None, self.init_cfg)
        if checkpoint is not None:
            load_head_checkpoint(self, checkpoint,
                                 MMLogger.get_current_instance())
        self._is_init = True

    def embed(self, x: Tensor) -> Tensor:
        """Tokens ``(B, N, D)`` -> the clip's embedding ``(B, E)``: pooled,
        normalised and (with ``proj_dims``) projected."""
        if x.dim() != 3 or x.shape[-1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} expects tokens of shape (B, N, '
                f'{self.in_channels}), got {tuple(x.shape)}')
        pooled = x[:, 0] if self.pool == 'cls' else x.mean(dim=1)
        embedding = self.norm(pooled)
        return embedding if self.proj is None else self.proj(embedding)

    def forward(self, x: Tensor, **kwargs) -> Tensor:
        """Tokens ``(B, N, D)`` -> class scores ``(B, num_classes)``."""
        x = self.embed(x)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc_cls(x)
