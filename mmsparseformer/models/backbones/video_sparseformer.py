"""VideoSparseFormer: SparseFormer (Gao et al., ICLR 2024) on video clips.

A few latent tokens, each with a spatiotemporal tube, read a clip by sparse
trilinear sampling of early-convolution features. ``N0 x replicates``
tokens: every image token becomes ``replicates`` tubes covering consecutive
time spans (replicate-major order).
"""
import copy
import math
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor

from mmaction.registry import MODELS
from ..geometry import boxes_to_tubes
from ..layers import EarlyConvStem, SparseFormerUnit

#: Fields every arch dict must carry.
ARCH_FIELDS = ('conv_channels', 'num_tokens', 'num_points', 'focus_dims',
               'cortex_dims', 'focus_repeats', 'cortex_depth',
               'sampling_units', 'num_heads', 'mlp_ratio')


def _v1_arch(num_tokens: int, focus_dims: int, cortex_dims: int,
             cortex_depth: int, drop_path_rate: float) -> dict:
    return dict(
        conv_channels=96,
        num_tokens=num_tokens,
        num_points=36,
        focus_dims=focus_dims,
        cortex_dims=cortex_dims,
        focus_repeats=4,
        cortex_depth=cortex_depth,
        sampling_units=(0, 1),  # the focusing unit and the first cortex unit
        num_heads=64,  # v1: 64 heads at every width
        mlp_ratio=4,
        drop_path_rate=drop_path_rate)


class VideoSparseFormerArchs:
    """Named archs of SparseFormer v1 (DESIGN §2)."""
    zoo: Dict[str, dict] = {
        'tiny': _v1_arch(49, 256, 512, 8, 0.2),
        'small': _v1_arch(64, 320, 640, 8, 0.3),
        'base': _v1_arch(81, 384, 768, 10, 0.4),
    }


def resolve_arch(arch: Union[str, dict]) -> dict:
    """A full arch dict from a name or a user dict (checked for fields)."""
    if isinstance(arch, str):
        if arch not in VideoSparseFormerArchs.zoo:
            raise KeyError(f'Unknown VideoSparseFormer arch {arch!r}; '
                           f'choose from {sorted(VideoSparseFormerArchs.zoo)}'
                           ' or pass a dict')
        return copy.deepcopy(VideoSparseFormerArchs.zoo[arch])
    if not isinstance(arch, dict):
        raise TypeError(f'arch must be a str or a dict, not {type(arch)}')
    missing = [field for field in ARCH_FIELDS if field not in arch]
    if missing:
        raise KeyError(f'VideoSparseFormer arch dict is missing {missing}; '
                       f'an arch dict needs all of {list(ARCH_FIELDS)}')
    unknown = set(arch) - set(ARCH_FIELDS) - {'drop_path_rate'}
    if unknown:
        raise KeyError(f'Unknown fields {sorted(unknown)} in the '
                       f'VideoSparseFormer arch dict; known fields are '
                       f'{list(ARCH_FIELDS) + ["drop_path_rate"]}')
    return dict(dict(drop_path_rate=0.), **arch)


def grid_initial_rois(num_tokens: int, replicates: int) -> Tensor:
    """Initial tubes: a ``k x k`` grid of half-size boxes, ``replicates``
    consecutive time spans, replicate-major. Tokens beyond ``k * k`` (when
    ``num_tokens`` is not a square) cover the whole frame."""
    root = math.isqrt(num_tokens)
    boxes = torch.tensor([[0., 0., 1., 1.]]).repeat(num_tokens, 1)
    if root > 1:
        steps = torch.arange(root, dtype=torch.float32) / (root - 1) * 0.5
        grid_x, grid_y = torch.meshgrid(steps, steps, indexing='ij')
        low = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=-1)
        boxes[:root * root] = torch.cat([low, low + 0.5], dim=-1)
    return boxes_to_tubes(boxes, replicates)


@MODELS.register_module()
class VideoSparseFormer(BaseModule):
    """VideoSparseFormer backbone.

    Args:
        arch (str | dict): ``'tiny'``, ``'small'``, ``'base'`` or a dict with
            every field of :data:`ARCH_FIELDS` (``drop_path_rate`` optional).
        replicates (int): Token inflation ``R``: tubes per image token.
            Defaults to 8.
        drop_path_rate (float, optional): Stochastic depth, rising linearly
            over all unit applications. Defaults to the arch's value.
        pretrained (str, optional): A checkpoint to load: an official
            SparseFormer file (image or video, either release layout) or one
            of this project's. Image checkpoints are inflated.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=...)``
            does the same as ``pretrained``.
        fast_path (bool): Use the fast early convolution and sampler of
            :mod:`mmsparseformer.models.fast_ops` (same outputs). ``False``
            runs the direct implementation of the spec (3D convolution and
            max-pool, ``grid_sample``), the reference of the speed
            benchmark. Defaults to True.

    Input ``(B, 3, T, H, W)`` with ``H`` and ``W`` divisible by 4; output the
    tokens ``(B, N0 * replicates, D)``.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 replicates: int = 8,
                 drop_path_rate: Optional[float] = None,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None,
                 fast_path: bool = True) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = resolve_arch(arch)
        self.arch_name = arch if isinstance(arch, str) else None
        settings = self.arch_settings
        if drop_path_rate is None:
            drop_path_rate = settings['drop_path_rate']
        if replicates < 1:
            raise ValueError(f'replicates must be >= 1, got {replicates}')
        self.replicates = replicates
        self.pretrained = pretrained
        self.num_tokens = settings['num_tokens'] * replicates
        self.focus_dims = settings['focus_dims']
        self.embed_dims = settings['cortex_dims']

        widths = [settings['focus_dims']] + \
            [settings['cortex_dims']] * settings['cortex_depth']
        repeats = [settings['focus_repeats']] + [1] * settings['cortex_depth']
        sampling_units = set(settings['sampling_units'])
        bad = sampling_units - set(range(len(widths)))
        if bad:
            raise ValueError(f'sampling_units {sorted(bad)} do not exist: the '
                             f'arch has {len(widths)} units')
        rates = torch.linspace(0, drop_path_rate, sum(repeats)).tolist()

        self.stem = EarlyConvStem(settings['conv_channels'], fast_path)
        self.initial_rois = nn.Parameter(
            grid_initial_rois(settings['num_tokens'], replicates))
        self.initial_embeddings = nn.Parameter(
            torch.zeros(self.num_tokens, settings['focus_dims']))
        self.units = nn.ModuleList()
        for index, (width, repeat) in enumerate(zip(widths, repeats)):
            self.units.append(
                SparseFormerUnit(
                    embed_dims=width,
                    num_heads=settings['num_heads'],
                    mlp_ratio=settings['mlp_ratio'],
                    drop_path_rates=rates[:repeat],
                    sampling=index in sampling_units,
                    feat_channels=settings['conv_channels'],
                    num_points=settings['num_points'],
                    in_dims=widths[index - 1] if index else None,
                    fast_path=fast_path))
            rates = rates[repeat:]

    @property
    def fast_path(self) -> bool:
        return self.stem.fast_path

    @fast_path.setter
    def fast_path(self, enabled: bool) -> None:
        """Switch every module between the fast and the reference path."""
        for module in self.modules():
            if hasattr(module, 'fast_path') and module is not self:
                module.fast_path = enabled

    # ------------------------------------------------------------------ init
    def init_weights(self) -> None:
        """Fresh SparseFormer init, or load ``pretrained`` / ``init_cfg``."""
        checkpoint = self.pretrained
        if checkpoint is None and isinstance(self.init_cfg, dict) and \
                self.init_cfg.get('type') == 'Pretrained':
            checkpoint = self.init_cfg['checkpoint']
        if checkpoint is not None:
            from ..checkpoint import load_backbone_checkpoint
            load_backbone_checkpoint(self, checkpoint,
                                     MMLogger.get_current_instance())
            self._is_init = True
            return
        self.reset_parameters()
        self._is_init = True

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The official library's initialisation, extended to tubes."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for module in self.modules():
            if module is not self and hasattr(module, 'init_weights'):
                module.init_weights()
        trunc_normal_(self.initial_embeddings, std=1., a=-2., b=2.)
        self.initial_rois.copy_(
            grid_initial_rois(self.arch_settings['num_tokens'],
                              self.replicates))

    # --------------------------------------------------------------- forward
    def check_input(self, x: Tensor) -> None:
        """Raise a clear error for inputs the model cannot read."""
        if x.dim() != 5:
            raise ValueError(
                'VideoSparseFormer expects a clip batch of shape '
                f'(B, 3, T, H, W), got a {x.dim()}-D tensor of shape '
                f'{tuple(x.shape)}')
        if x.shape[1] != 3:
            raise ValueError('VideoSparseFormer expects 3 (RGB) channels in '
                             f'dim 1 of (B, 3, T, H, W), got {x.shape[1]} '
                             f'(input shape {tuple(x.shape)})')
        height, width = x.shape[-2:]
        if height % 4 or width % 4:
            raise ValueError(
                f'VideoSparseFormer needs H and W divisible by 4, got '
                f'H={height}, W={width} (input shape {tuple(x.shape)})')
        if min(x.shape[0], x.shape[2]) < 1:
            raise ValueError(f'Empty input of shape {tuple(x.shape)}')

    def forward_trace(self, x: Tensor) -> dict:
        """Tokens plus the geometry of every unit application.

        Returns:
            dict: ``tokens`` ``(B, N, D)``, ``rois`` (final tubes
            ``(B, N, 6)``), ``unit_rois`` (tubes after each unit's last
            repetition), and ``applications``: a list with one dict per unit
            application (``unit``, ``repeat``, ``rois`` ``(B, N, 6)`` and
            ``points`` ``(B, N, P, 3)`` or ``None`` for a non-sampling unit).
        """
        self.check_input(x)
        feats = self.stem(x)
        batch = x.shape[0]
        tokens = self.initial_embeddings.unsqueeze(0).expand(batch, -1, -1)
        rois = self.initial_rois.float().unsqueeze(0).expand(batch, -1, -1)
        applications: List[dict] = []
        unit_rois = []
        for index, unit in enumerate(self.units):
            trace: List[dict] = []
            tokens, rois = unit(tokens, rois, feats, trace)
            applications += [dict(unit=index, **step) for step in trace]
            unit_rois.append(rois)
        return dict(tokens=tokens, rois=rois, unit_rois=unit_rois,
                    applications=applications)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 3, T, H, W)`` -> tokens ``(B, N, D)``."""
        return self.forward_trace(x)['tokens']
