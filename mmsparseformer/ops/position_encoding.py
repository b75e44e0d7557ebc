"""``PE_INJECT``: a position encoding of each token's tube, added to the
token (docs/model.md, "Tube position encoding")."""
import math

import torch
import torch.nn as nn
from torch import Tensor

#: Largest frequency of the sine encoding (the bootstrapped SparseFormers').
MAX_TEMPERATURE = 128
#: Box coordinates ``(x1, y1, x2, y2)`` and time span ``(t1, t2)`` of a tube.
BOX_AXES = (0, 1, 3, 4)
SPAN_AXES = (2, 5)


@torch.no_grad()
def sine_encoding(coords: Tensor, dims: int,
                  max_temperature: float = MAX_TEMPERATURE) -> Tensor:
    """Sine/cosine features of coordinates in ``[0, 1]``, no gradient.

    Each of the ``K`` coordinates (times pi) is multiplied by ``F = dims //
    K`` frequencies from 1 to ``max_temperature`` (log-spaced); the even
    frequencies give sines, the odd ones cosines.

    Args:
        coords (Tensor): ``(..., K)`` coordinates.
        dims (int): Output width, a multiple of ``K``.

    Returns:
        Tensor: ``(..., dims)`` float32 features, coordinate-major.
    """
    num_coords = coords.shape[-1]
    if dims % num_coords:
        raise ValueError(f'{dims} features do not split over {num_coords} '
                         'coordinates')
    freqs = torch.linspace(0, math.log(max_temperature), dims // num_coords,
                           device=coords.device).exp()
    phases = coords.float()[..., None] * math.pi * freqs
    features = torch.cat([phases[..., 0::2].sin(), phases[..., 1::2].cos()],
                         dim=-1)
    return features.flatten(-2)


class TubePositionEncoding(nn.Module):
    """Position encoding of tubes, ``(B, N, 6) -> (B, N, D)``.

    The spatial box ``(x1, y1, x2, y2)`` is encoded as the bootstrapped
    image SparseFormers encode their boxes, ``Linear(LN(sine(box)))``; the
    time span ``(t1, t2)`` adds ``Linear(sine(span))`` whose weight starts
    at zero, so an inflated image model computes what the image model
    computes until training moves it. The tubes get no gradient from it.

    Args:
        embed_dims (int): Token width ``D`` (a multiple of 4).
        norm_eps (float): LayerNorm epsilon.
    """

    def __init__(self, embed_dims: int, norm_eps: float = 1e-5) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.norm = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.fc = nn.Linear(embed_dims, embed_dims)
        self.time_fc = nn.Linear(embed_dims // 2, embed_dims, bias=False)

    def init_weights(self) -> None:
        nn.init.zeros_(self.time_fc.weight)

    def forward(self, rois: Tensor) -> Tensor:
        dims = self.embed_dims
        box = sine_encoding(rois[..., list(BOX_AXES)], dims)
        span = sine_encoding(rois[..., list(SPAN_AXES)], dims // 2)
        box, span = box.to(self.fc.weight.dtype), span.to(self.fc.weight.dtype)
        return self.fc(self.norm(box)) + self.time_fc(span)
