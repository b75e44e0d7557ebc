"""``ATTN``: pre-norm multi-head self-attention over the latent tokens
(docs/model.md, "Units and ops")."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .impl import MultiImplOp
from .kernels import ATTENTION_HEAD_DIMS


def attention_pytorch(qkv: Tensor, num_heads: int,
                      key_bias: Optional[Tensor] = None) -> Tensor:
    """Multi-head attention from ``(B, N, 3D)`` projections (q; k; v, each
    head-major) to ``(B, N, D)`` by ``scaled_dot_product_attention``.

    ``key_bias`` (``(N,)``) is added to every query's logit of each key.
    """
    batch, num_tokens, _ = qkv.shape
    q, k, v = qkv.view(batch, num_tokens, 3, num_heads,
                       -1).permute(2, 0, 3, 1, 4).unbind(0)
    mask = None if key_bias is None else key_bias.to(q.dtype).view(1, -1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return out.transpose(1, 2).reshape(batch, num_tokens, -1)


def attention_kernel(qkv: Tensor, num_heads: int) -> Tensor:
    """The compiled CPU kernel: many small heads vectorised over tokens."""
    return torch.ops.mmsparseformer.token_attention(qkv, num_heads)


class TokenAttention(MultiImplOp):
    """``LN -> qkv -> attention -> proj`` (the residual branch).

    Args:
        embed_dims (int): Token width.
        num_heads (int): Attention heads.
        norm_eps (float): LayerNorm epsilon.
        impl (str): Implementation setting (:mod:`.impl`); ``'reference'``
            and ``'pytorch'`` both run SDPA.
    """

    def __init__(self, embed_dims: int, num_heads: int,
                 norm_eps: float = 1e-6, impl: str = 'auto') -> None:
        super().__init__(impl)
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} is not divisible by '
                             f'num_heads {num_heads}')
        self.num_heads = num_heads
        self.norm = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.qkv = nn.Linear(embed_dims, embed_dims * 3)
        self.proj = nn.Linear(embed_dims, embed_dims)

    def kernel_unsupported(self, key_bias: Optional[Tensor]) -> Optional[str]:
        """Why the kernel cannot serve this op and call, or None."""
        head_dims = self.qkv.out_features // (3 * self.num_heads)
        if head_dims not in ATTENTION_HEAD_DIMS:
            return (f'heads of {head_dims} channels (the kernel has '
                    f'{list(ATTENTION_HEAD_DIMS)})')
        if key_bias is not None:
            return 'a key bias'
        return None

    def forward(self, tokens: Tensor,
                key_bias: Optional[Tensor] = None) -> Tensor:
        """``(B, N, D)`` -> ``(B, N, D)``; ``key_bias`` ``(N,)`` is added to
        the logits of each key (e.g. ``log R`` for a class token standing
        for ``R`` replicates)."""
        qkv = self.qkv(self.norm(tokens))
        impl = self.resolve_impl(
            qkv, unsupported=self.kernel_unsupported(key_bias))
        if impl == 'kernels':
            return self.proj(attention_kernel(qkv, self.num_heads))
        return self.proj(attention_pytorch(qkv, self.num_heads, key_bias))
