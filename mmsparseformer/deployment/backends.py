"""Inference backends: what turns normalised clips into logits.

:class:`InferenceBackend` is the interface that
:class:`~mmsparseformer.apis.VideoInferencer` drives; the PyTorch backend
is here, the ONNX Runtime one in :mod:`.onnxruntime_backend`. They live in
the deployment layer, below the APIs, because a backend is a way to run a
model (as built, or as exported), while decoding and averaging the views of
a video is the APIs' job.
"""
from abc import ABCMeta, abstractmethod
from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor

from ..models import ClipRecognizer


class InferenceBackend(metaclass=ABCMeta):
    """Maps normalised clips ``(B, 3, T, H, W)`` to logits ``(B, K)``."""
    #: Name shown in outputs.
    name = 'backend'
    #: The largest batch one call takes (``None``: any).
    max_batch: Optional[int] = None
    #: A fixed batch size that every call must have (``None``: any).
    fixed_batch: Optional[int] = None

    @abstractmethod
    def logits(self, clips: Tensor) -> Tensor:
        """Logits ``(B, num_classes)`` on the CPU."""


class PyTorchBackend(InferenceBackend):
    """The recognizer in PyTorch (backbone, neck, head) on its device."""
    name = 'pytorch'

    def __init__(self, recognizer: nn.Module) -> None:
        self.model = ClipRecognizer(recognizer).eval()
        self.device = next(recognizer.parameters()).device

    @torch.no_grad()
    def logits(self, clips: Tensor) -> Tensor:
        return self.model.forward_logits(clips.to(self.device)).float().cpu()
