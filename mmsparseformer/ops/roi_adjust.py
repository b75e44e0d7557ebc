"""``ROI_ADJ``: every token moves and rescales its tube (docs/model.md,
"Units and ops")."""
from typing import Optional

import torch.nn as nn
from torch import Tensor

from .geometry import NUM_AXES, adjust_rois
from .sampling import unit_norm_layer_norm_


class RoIAdjust(nn.Module):
    """Predicts ``(dx, dy, dt, dw, dh, dl)`` from each token (the last layer
    zero-initialised) and applies them to its tube.

    Args:
        embed_dims (int): Token width.
        hidden_dims (int, optional): ``None``: ``LN -> Linear`` (v1);
            otherwise ``LN -> Linear -> GELU -> Linear`` with this hidden
            width (the bootstrapped SparseFormers).
        drop_path_deltas (bool): Pass the adjustments through the unit's
            stochastic depth (v1 does; the bootstrapped ones do not).
        norm_eps (float): LayerNorm epsilon.
    """

    def __init__(self,
                 embed_dims: int,
                 hidden_dims: Optional[int] = None,
                 drop_path_deltas: bool = True,
                 norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.drop_path_deltas = drop_path_deltas
        self.norm = nn.LayerNorm(embed_dims, eps=norm_eps)
        if hidden_dims is None:
            self.hidden = None
        else:
            self.hidden = nn.Sequential(
                nn.Linear(embed_dims, hidden_dims), nn.GELU())
        self.fc = nn.Linear(hidden_dims or embed_dims, 2 * NUM_AXES,
                            bias=False)

    def init_weights(self) -> None:
        unit_norm_layer_norm_(self.norm)
        nn.init.zeros_(self.fc.weight)

    def forward(self, tokens: Tensor, rois: Tensor,
                drop_path: Optional[nn.Module] = None) -> Tensor:
        """Tokens ``(B, N, D)`` and tubes ``(B, N, 6)`` -> the new tubes."""
        hidden = self.norm(tokens)
        if self.hidden is not None:
            hidden = self.hidden(hidden)
        deltas = self.fc(hidden)
        if self.drop_path_deltas and drop_path is not None:
            deltas = drop_path(deltas)
        return adjust_rois(rois, deltas)
