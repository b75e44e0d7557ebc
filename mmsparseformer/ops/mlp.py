"""``MLP``: pre-norm two-layer MLP of the tokens (docs/model.md, "Units and
ops")."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .impl import MultiImplOp
from .kernels import VECTOR_LANES

#: Activations of the MLP: exact GELU, and CLIP's sigmoid approximation.
ACTIVATIONS = ('gelu', 'quick_gelu')


def quick_gelu(x: Tensor) -> Tensor:
    """CLIP's GELU approximation ``x * sigmoid(1.702 x)``."""
    return x * torch.sigmoid(1.702 * x)


def linear_gelu_kernel(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``GELU(x W^T + b)`` (exact GELU) by the compiled CPU kernel."""
    return torch.ops.mmsparseformer.linear_gelu(x, weight, bias)


class TokenMLP(MultiImplOp):
    """``LN -> fc1 -> activation -> fc2`` (the residual branch).

    Args:
        embed_dims (int): Token width.
        mlp_ratio (float): Hidden width over token width.
        act (str): ``'gelu'`` (exact) or ``'quick_gelu'``.
        norm_eps (float): LayerNorm epsilon.
        impl (str): Implementation setting (:mod:`.impl`): the kernel
            computes ``GELU(fc1(x))`` in one pass.
    """

    def __init__(self, embed_dims: int, mlp_ratio: float, act: str = 'gelu',
                 norm_eps: float = 1e-6, impl: str = 'auto') -> None:
        super().__init__(impl)
        if act not in ACTIVATIONS:
            raise ValueError(f'act={act!r}: choose from {list(ACTIVATIONS)}')
        self.act = act
        hidden = int(embed_dims * mlp_ratio)
        self.norm = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.fc1 = nn.Linear(embed_dims, hidden)
        self.fc2 = nn.Linear(hidden, embed_dims)

    def kernel_unsupported(self) -> Optional[str]:
        if self.act != 'gelu':
            return f'the {self.act} activation'
        if self.fc1.out_features % VECTOR_LANES:
            return (f'{self.fc1.out_features} hidden features (a multiple '
                    f'of {VECTOR_LANES} is needed)')
        return None

    def forward(self, tokens: Tensor) -> Tensor:
        normed = self.norm(tokens)
        weight, bias = self.fc1.weight, self.fc1.bias
        impl = self.resolve_impl(normed, weight, bias,
                                 unsupported=self.kernel_unsupported())
        if impl == 'kernels':
            return self.fc2(linear_gelu_kernel(normed, weight, bias))
        hidden = self.fc1(normed)
        hidden = F.gelu(hidden) if self.act == 'gelu' else quick_gelu(hidden)
        return self.fc2(hidden)
