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


@MODELS.register_module()
class SparseFormerHead(BaseHead):
    """Mean over tokens -> LayerNorm -> dropout -> linear classifier.

    Label smoothing (``label_smooth_eps``) and multi-view averaging
    (``average_clips``) come from MMAction2's :class:`BaseHead`.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Token width ``D``.
        dropout_ratio (float): Dropout before the classifier. Defaults to 0.
        init_std (float): Std of the classifier's truncated-normal init.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=...)``
            loads ``norm`` and, when the class count matches, ``fc_cls`` from
            any checkpoint the backbone can load (official or own).
        **kwargs: ``loss_cls``, ``label_smooth_eps``, ``topk``,
            ``average_clips``... of :class:`BaseHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 dropout_ratio: float = 0.,
                 init_std: float = 0.02,
                 init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(num_classes, in_channels, init_cfg=init_cfg,
                         **kwargs)
        self.init_std = init_std
        self.norm = nn.LayerNorm(in_channels, eps=1e-6)
        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio else None
        self.fc_cls = nn.Linear(in_channels, num_classes)

    def init_weights(self) -> None:
        nn.init.ones_(self.norm.weight)
        nn.init.zeros_(self.norm.bias)
        trunc_normal_(self.fc_cls.weight, std=self.init_std)
        nn.init.zeros_(self.fc_cls.bias)
        checkpoint = pretrained_checkpoint(None, self.init_cfg)
        if checkpoint is not None:
            load_head_checkpoint(self, checkpoint,
                                 MMLogger.get_current_instance())
        self._is_init = True

    def forward(self, x: Tensor, **kwargs) -> Tensor:
        """Tokens ``(B, N, D)`` -> class scores ``(B, num_classes)``."""
        if x.dim() != 3 or x.shape[-1] != self.in_channels:
            raise ValueError(
                f'SparseFormerHead expects tokens of shape (B, N, '
                f'{self.in_channels}), got {tuple(x.shape)}')
        x = self.norm(x.mean(dim=1))
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc_cls(x)
