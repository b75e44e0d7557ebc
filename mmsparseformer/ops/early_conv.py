"""The early convolution: conv 7x7/2, ReLU, max-pool 3x3/2 and channel
standardisation of every frame, ``(B, 3, T, H, W) -> (B, C, T, H/4, W/4)``
(docs/model.md, "Units and ops")."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .geometry import HALF_DTYPES
from .impl import MultiImplOp

#: Epsilon of the channel standardisation.
STANDARDIZE_EPS = 1e-5


def standardize_channels(features: Tensor,
                         eps: float = STANDARDIZE_EPS) -> Tensor:
    """``(f - mean_c f) / sqrt(var_c f + eps)`` over dim 1, no affine.

    Half-precision input is promoted: the result is at least float32.
    """
    with torch.autocast(device_type=features.device.type, enabled=False):
        if features.dtype in HALF_DTYPES:
            features = features.float()
        var, mean = torch.var_mean(features, dim=1, unbiased=False,
                                   keepdim=True)
        return (features - mean) / (var + eps).sqrt()


def early_conv_reference(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """The definition: 3D convolution and max-pool of temporal kernel 1."""
    feats = F.conv3d(x, weight.unsqueeze(2), bias, stride=(1, 2, 2),
                     padding=(0, 3, 3))
    feats = F.max_pool3d(F.relu(feats), (1, 3, 3), (1, 2, 2), (0, 1, 1))
    return standardize_channels(feats)


def early_conv_pytorch(x: Tensor, weight: Tensor, bias: Tensor,
                       eps: float = STANDARDIZE_EPS) -> Tensor:
    """Per frame in channels-last 2D (oneDNN), the pool before the ReLU
    (they commute, on 4x fewer values) and the standardisation as a
    ``layer_norm`` over the contiguous channel axis.

    Returns ``(B, C, T, H/4, W/4)`` stored channels-last
    (``channels_last_3d``), the layout :func:`.sampling.sample_pytorch`
    gathers from.
    """
    batch, channels, frames, height, width = x.shape
    frames_2d = x.permute(0, 2, 3, 4, 1).contiguous().view(
        batch * frames, height, width, channels).permute(0, 3, 1, 2)
    feats = F.conv2d(frames_2d, weight, bias, stride=2, padding=3)
    feats = F.max_pool2d(feats, 3, 2, 1).relu_()
    feats = feats.permute(0, 2, 3, 1)  # (B*T, H', W', C), contiguous
    with torch.autocast(device_type=x.device.type, enabled=False):
        if feats.dtype in HALF_DTYPES:
            feats = feats.float()
        feats = F.layer_norm(feats, feats.shape[-1:], eps=eps)
    feats = feats.view(batch, frames, *feats.shape[1:])
    return feats.permute(0, 4, 1, 2, 3)


def early_conv_kernel(x: Tensor, weight: Tensor, bias: Tensor,
                      eps: float = STANDARDIZE_EPS) -> Tensor:
    """The compiled CPU kernel: banded im2col + one GEMM per band of rows,
    with pool, bias, ReLU and standardisation done in cache."""
    return torch.ops.mmsparseformer.early_conv(x, weight, bias, eps)


class EarlyConvStem(MultiImplOp):
    """Per-frame early convolution (weights of a 2D convolution).

    Args:
        out_channels (int): Feature channels ``C``.
        impl (str): Implementation setting (:mod:`.impl`).
    """

    def __init__(self, out_channels: int, impl: str = 'auto') -> None:
        super().__init__(impl)
        self.out_channels = out_channels
        self.conv = nn.Conv2d(3, out_channels, 7, stride=2, padding=3)

    def init_weights(self) -> None:
        nn.init.kaiming_normal_(
            self.conv.weight, mode='fan_out', nonlinearity='relu')

    def forward(self, x: Tensor) -> Tensor:
        weight, bias = self.conv.weight, self.conv.bias
        impl = self.resolve_impl(x, weight, bias)
        if impl == 'kernels':
            return early_conv_kernel(x, weight, bias)
        if impl == 'pytorch':
            return early_conv_pytorch(x, weight, bias)
        return early_conv_reference(x, weight, bias)
