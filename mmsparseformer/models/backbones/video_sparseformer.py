"""VideoSparseFormer: SparseFormer (Gao et al., ICLR 2024) on video clips.

A few latent tokens, each with a spatiotemporal tube, read a clip by sparse
trilinear sampling of early-convolution features. ``N0 x replicates``
tokens: every image token becomes ``replicates`` tubes covering consecutive
time spans (replicate-major order). Named archs: SparseFormer v1 and the
SparseFormers bootstrapped from AugReg and CLIP ViTs (Gao et al., CVPR
2024), docs/model.md.
"""
import copy
import dataclasses
import math
from typing import List, Optional, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor

from mmaction.registry import MODELS
from ...checkpoint_io import pretrained_checkpoint
from ...ops import EarlyConvStem, check_impl, set_impl
from ...ops.geometry import boxes_to_tubes
from ..checkpoint import load_backbone_checkpoint
from ..sparseformer_unit import (BTSP_STYLE, TUBE_OPS, V1_STYLE,
                                 SparseFormerUnit, UnitStyle)

#: Fields every arch dict must carry.
ARCH_FIELDS = ('conv_channels', 'num_tokens', 'num_points', 'focus_dims',
               'cortex_dims', 'focus_repeats', 'cortex_depth',
               'sampling_units', 'num_heads', 'mlp_ratio')
#: Optional fields and their defaults (SparseFormer v1).
ARCH_DEFAULTS = dict(
    drop_path_rate=0.,
    style='v1',  # or 'btsp' (docs/model.md, "Bootstrapped SparseFormers")
    head_dims=None,  # heads = width // head_dims where num_heads is None
    gen_dims=None,  # mixing generator width; None: the style's
    quick_gelu=False,  # QuickGELU in the MLPs of units applied once
    cls_token_unit=None)  # insert a class token before this unit
#: The op lists of each style: first unit, other sampling units, the rest.
UNIT_OPS = {
    'v1': (('ATTN', 'ROI_ADJ', 'SAMPLING_M', 'MLP'),
           ('ATTN', 'ROI_ADJ', 'SAMPLING_M', 'MLP'), ('ATTN', 'MLP')),
    'btsp': (('SAMPLING_M', 'PE_INJECT', 'ATTN', 'MLP', 'ROI_ADJ'),
             ('SAMPLING_M', 'PE_INJECT'), ('ATTN', 'MLP')),
}
STYLES = {'v1': V1_STYLE, 'btsp': BTSP_STYLE}


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


def _btsp_arch(num_tokens: int, focus_dims: int, cortex_dims: int,
               attention_units: int, clip: bool) -> dict:
    """A released bootstrapped SparseFormer: a focusing unit (x4), a
    sampling unit, then ``attention_units`` ViT blocks; a class token before
    the first of those; heads of 64 channels."""
    return dict(
        conv_channels=64,
        num_tokens=num_tokens,
        num_points=16,
        focus_dims=focus_dims,
        cortex_dims=cortex_dims,
        focus_repeats=4,
        cortex_depth=attention_units + 1,
        sampling_units=(0, 1),
        num_heads=None,
        head_dims=64,
        mlp_ratio=4,
        style='btsp',
        gen_dims=128,
        quick_gelu=clip,
        cls_token_unit=2,
        drop_path_rate=0.)


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
        arch (str | dict): A name of :attr:`arch_zoo` (v1 ``'tiny'``,
            ``'small'``, ``'base'``; bootstrapped ``'btsp-augreg-base'``,
            ``'btsp-augreg-large'``, ``'btsp-clip-base'``,
            ``'btsp-clip-large'``) or a dict with every field of
            :data:`ARCH_FIELDS` (and optionally those of
            :data:`ARCH_DEFAULTS`).
        replicates (int): Token inflation ``R``: tubes per image token.
            Defaults to 8.
        drop_path_rate (float, optional): Stochastic depth, rising linearly
            over all unit applications. Defaults to the arch's value.
        impl (str): Implementation of the ops, for the whole model
            (docs/model.md, "Implementations"): ``'auto'`` (compiled CPU
            kernels in float32 CPU inference, else ``'pytorch'``),
            ``'kernels'``, ``'pytorch'`` or ``'reference'`` (the direct
            implementation of the definition: 3D convolution and max-pool,
            ``grid_sample``). Same outputs. Defaults to ``'auto'``.
        with_cp (bool): Gradient checkpointing: the early convolution and
            each unit application are recomputed in the backward pass
            instead of keeping their activations. Defaults to False.
        frozen_stages (int): ``-1`` trains everything; ``0`` freezes the
            early convolution and the initial tokens (embeddings and tubes);
            ``k > 0`` also the first ``k`` units. Frozen parts get no
            gradients and stay in eval mode. Defaults to -1.
        pretrained (str, optional): A checkpoint to load: an official
            SparseFormer file (image or video, either release layout) or one
            of this project's. Image checkpoints are inflated.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=...)``
            does the same as ``pretrained``.

    Input ``(B, 3, T, H, W)`` with ``H`` and ``W`` divisible by 4; output the
    tokens ``(B, N0 * replicates, D)``, with the class token first
    (``(B, 1 + N0 * replicates, D)``) for an arch that has one.
    """
    #: Named archs (docs/model.md, "Units and ops" and "Bootstrapped
    #: SparseFormers").
    arch_zoo = {
        'tiny': _v1_arch(49, 256, 512, 8, 0.2),
        'small': _v1_arch(64, 320, 640, 8, 0.3),
        'base': _v1_arch(81, 384, 768, 10, 0.4),
        'btsp-augreg-base': _btsp_arch(48, 384, 768, 8, clip=False),
        'btsp-augreg-large': _btsp_arch(48, 512, 1024, 16, clip=False),
        'btsp-clip-base': _btsp_arch(48, 384, 768, 8, clip=True),
        'btsp-clip-large': _btsp_arch(63, 512, 1024, 16, clip=True),
    }

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 replicates: int = 8,
                 drop_path_rate: Optional[float] = None,
                 impl: str = 'auto',
                 with_cp: bool = False,
                 frozen_stages: int = -1,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = self.resolve_arch(arch)
        self.arch_name = arch if isinstance(arch, str) else None
        settings = self.arch_settings
        if replicates < 1:
            raise ValueError(f'replicates must be >= 1, got {replicates}')
        self.replicates = replicates
        self.pretrained = pretrained
        self.num_tokens = settings['num_tokens'] * replicates
        self.focus_dims = settings['focus_dims']
        self.embed_dims = settings['cortex_dims']
        self._impl = check_impl(impl)

        self.stem = EarlyConvStem(settings['conv_channels'], impl)
        self.initial_rois = nn.Parameter(
            grid_initial_rois(settings['num_tokens'], replicates))
        # v1: an embedding per token; bootstrapped: one shared by all
        shared = settings['style'] == 'btsp'
        self.initial_embeddings = nn.Parameter(
            torch.zeros(1 if shared else self.num_tokens,
                        settings['focus_dims']))
        self.cls_token_unit = settings['cls_token_unit']
        self.cls_token = None
        if self.cls_token_unit is not None:
            self.cls_token = nn.Parameter(torch.zeros(1, self.embed_dims))
        self.units = self.build_units(
            settings, settings['drop_path_rate']
            if drop_path_rate is None else drop_path_rate, with_cp, impl)
        if not -1 <= frozen_stages <= len(self.units):
            raise ValueError(f'frozen_stages={frozen_stages}: -1 (none), 0 '
                             '(the early convolution and initial tokens) '
                             f'up to {len(self.units)} (every unit)')
        self.frozen_stages = frozen_stages
        self._freeze_stages()

    @classmethod
    def resolve_arch(cls, arch: Union[str, dict]) -> dict:
        """A full arch dict from a name or a user dict (checked)."""
        if isinstance(arch, str):
            if arch not in cls.arch_zoo:
                raise KeyError(f'Unknown VideoSparseFormer arch {arch!r}; '
                               f'choose from {sorted(cls.arch_zoo)} or pass '
                               'a dict')
            return dict(ARCH_DEFAULTS, **copy.deepcopy(cls.arch_zoo[arch]))
        if not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or a dict, not {type(arch)}')
        missing = [field for field in ARCH_FIELDS if field not in arch]
        if missing:
            raise KeyError(f'VideoSparseFormer arch dict is missing '
                           f'{missing}; an arch dict needs all of '
                           f'{list(ARCH_FIELDS)}')
        known = list(ARCH_FIELDS) + list(ARCH_DEFAULTS)
        unknown = set(arch) - set(known)
        if unknown:
            raise KeyError(f'Unknown fields {sorted(unknown)} in the '
                           f'VideoSparseFormer arch dict; known fields are '
                           f'{known}')
        settings = dict(ARCH_DEFAULTS, **arch)
        if settings['style'] not in STYLES:
            raise ValueError(f"arch style {settings['style']!r}: choose from "
                             f'{list(STYLES)}')
        if (settings['num_heads'] is None) == (settings['head_dims'] is None):
            raise ValueError('an arch sets exactly one of num_heads (fixed) '
                             'and head_dims (heads = width // head_dims)')
        return settings

    @staticmethod
    def unit_layout(settings: dict) -> List[dict]:
        """Width, repeats and ops of every unit of an arch."""
        depth = settings['cortex_depth'] + 1
        sampling_units = set(settings['sampling_units'])
        bad = sampling_units - set(range(depth))
        if bad:
            raise ValueError(f'sampling_units {sorted(bad)} do not exist: the '
                             f'arch has {depth} units')
        first, sampling, rest = UNIT_OPS[settings['style']]
        layout = [
            dict(width=settings['focus_dims'] if index == 0 else
                 settings['cortex_dims'],
                 repeats=settings['focus_repeats'] if index == 0 else 1,
                 ops=rest if index not in sampling_units else
                 first if index == 0 else sampling)
            for index in range(depth)
        ]
        cls_unit = settings['cls_token_unit']
        if cls_unit is not None and (not 0 < cls_unit < depth or any(
                op in TUBE_OPS for unit in layout[cls_unit:]
                for op in unit['ops'])):
            raise ValueError(f'cls_token_unit={cls_unit}: the class token '
                             'joins before a unit after which no op reads '
                             'or moves the tubes')
        return layout

    @staticmethod
    def unit_style(settings: dict) -> UnitStyle:
        """The unit switches of an arch: its style's, with the arch's
        generator width and activation."""
        style = STYLES[settings['style']]
        return dataclasses.replace(
            style, gen_dims=settings['gen_dims'] or style.gen_dims,
            quick_gelu=settings['quick_gelu'])

    @classmethod
    def build_units(cls, settings: dict, drop_path_rate: float,
                    with_cp: bool, impl: str) -> nn.ModuleList:
        """The units of an arch, drop-path rates rising linearly over all
        unit applications."""
        layout = cls.unit_layout(settings)
        style = cls.unit_style(settings)
        rates = torch.linspace(0, drop_path_rate,
                               sum(u['repeats'] for u in layout),
                               device='cpu').tolist()
        units = nn.ModuleList()
        for index, unit in enumerate(layout):
            units.append(
                SparseFormerUnit(
                    embed_dims=unit['width'],
                    ops=unit['ops'],
                    drop_path_rates=rates[:unit['repeats']],
                    num_heads=settings['num_heads'] or
                    unit['width'] // settings['head_dims'],
                    mlp_ratio=settings['mlp_ratio'],
                    feat_channels=settings['conv_channels'],
                    num_points=settings['num_points'],
                    in_dims=layout[index - 1]['width'] if index else None,
                    style=style,
                    with_cp=with_cp,
                    impl=impl))
            rates = rates[unit['repeats']:]
        return units

    @property
    def impl(self) -> str:
        """The implementation setting of every op (docs/model.md,
        "Implementations"); assigning it switches them all."""
        return self._impl

    @impl.setter
    def impl(self, impl: str) -> None:
        set_impl(self, impl)
        self._impl = impl

    @property
    def with_cp(self) -> bool:
        return all(unit.with_cp for unit in self.units)

    @with_cp.setter
    def with_cp(self, enabled: bool) -> None:
        for unit in self.units:
            unit.with_cp = enabled

    # ------------------------------------------------------------ freezing
    def frozen_modules(self) -> List[nn.Module]:
        """The early convolution and the first ``frozen_stages`` units."""
        if self.frozen_stages < 0:
            return []
        return [self.stem] + list(self.units[:self.frozen_stages])

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        self.initial_rois.requires_grad_(False)
        self.initial_embeddings.requires_grad_(False)
        if self.cls_token is not None and \
                self.frozen_stages > self.cls_token_unit:
            self.cls_token.requires_grad_(False)
        for module in self.frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad_(False)

    def train(self, mode: bool = True) -> 'VideoSparseFormer':
        """Set the mode; frozen parts stay in eval mode (no drop path)."""
        super().train(mode)
        self._freeze_stages()
        return self

    # ------------------------------------------------------------------ init
    def init_weights(self) -> None:
        """Fresh SparseFormer init, or load ``pretrained`` / ``init_cfg``."""
        checkpoint = pretrained_checkpoint(self.pretrained, self.init_cfg)
        if checkpoint is not None:
            load_backbone_checkpoint(self, checkpoint,
                                     MMLogger.get_current_instance())
        else:
            self.reset_parameters()
        self._is_init = True
        self._freeze_stages()

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
        if self.cls_token is not None:
            trunc_normal_(self.cls_token, std=0.02)
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
        if self.with_cp and self.stem.training and torch.is_grad_enabled():
            # the convolution's full-resolution output is the largest
            # activation: recompute it in the backward pass too
            feats = cp.checkpoint(self.stem, x, use_reentrant=False)
        else:
            feats = self.stem(x)
        batch = x.shape[0]
        tokens = self.initial_embeddings.unsqueeze(0).expand(
            batch, self.num_tokens, -1)
        rois = self.initial_rois.float().unsqueeze(0).expand(batch, -1, -1)
        applications: List[dict] = []
        unit_rois = []
        key_bias = None
        for index, unit in enumerate(self.units):
            if index == self.cls_token_unit:
                tokens, key_bias = self.insert_cls_token(tokens)
            trace: List[dict] = []
            tokens, rois = unit(tokens, rois, feats, trace, key_bias)
            applications += [dict(unit=index, **step) for step in trace]
            unit_rois.append(rois)
        return dict(tokens=tokens, rois=rois, unit_rois=unit_rois,
                    applications=applications)

    def insert_cls_token(self, tokens: Tensor):
        """Tokens with the class token first, and the attention's key bias
        that counts it as ``replicates`` tokens: with ``R`` copies of every
        other token, ``log R`` on its logit gives it the softmax mass it has
        in the image model (docs/model.md, "Class token and replicates")."""
        cls_token = self.cls_token.to(tokens.dtype).expand(
            tokens.shape[0], 1, -1)
        tokens = torch.cat([cls_token, tokens], dim=1)
        if self.replicates == 1:
            return tokens, None
        key_bias = tokens.new_zeros(tokens.shape[1], dtype=torch.float32)
        key_bias[0] = math.log(self.replicates)
        return tokens, key_bias

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 3, T, H, W)`` -> tokens ``(B, N, D)``."""
        return self.forward_trace(x)['tokens']
