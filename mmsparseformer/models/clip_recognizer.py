"""A built recognizer as a function of normalised clips."""
from typing import Optional, Tuple

import torch.nn as nn
from torch import Tensor


class ClipRecognizer(nn.Module):
    """A recognizer as a function of normalised clips.

    ``(B, 3, T, H, W)`` clips, normalised as the model's data preprocessor
    does, to ``(scores, logits)``, both ``(B, num_classes)``, ``scores``
    being the softmax of ``logits``. It runs what ``Recognizer3D`` runs on
    one view (backbone, neck, head) and is what inference, the FLOP
    counter, the benchmarks and the ONNX export share.

    Args:
        recognizer (nn.Module): A built MMAction2 recognizer; its modules
            are shared, not copied.
    """

    def __init__(self, recognizer: nn.Module) -> None:
        super().__init__()
        self.backbone = recognizer.backbone
        self.neck = recognizer.neck if getattr(recognizer, 'with_neck',
                                               False) else None
        self.cls_head = recognizer.cls_head

    @classmethod
    def from_parts(cls,
                   backbone: nn.Module,
                   cls_head: nn.Module,
                   neck: Optional[nn.Module] = None) -> 'ClipRecognizer':
        """A clip recognizer of separately built modules."""
        parts = nn.Module()
        parts.backbone, parts.cls_head = backbone, cls_head
        if neck is not None:
            parts.neck, parts.with_neck = neck, True
        return cls(parts)

    def forward_logits(self, clips: Tensor) -> Tensor:
        """Logits ``(B, num_classes)`` (no softmax)."""
        feats = self.backbone(clips)
        if self.neck is not None:
            feats, _ = self.neck(feats)
        return self.cls_head(feats)

    def forward(self, clips: Tensor) -> Tuple[Tensor, Tensor]:
        logits = self.forward_logits(clips)
        return logits.softmax(dim=-1), logits
