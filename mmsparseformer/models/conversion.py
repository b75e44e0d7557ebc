"""Whole official SparseFormer checkpoints -> this project's: which arch a
file holds (from its shapes), and the conversion of ``tools/convert``."""
import re
from typing import Dict, List, Optional, Union

from torch import Tensor

from ..checkpoint_io import (CheckpointError, load_checkpoint_file,
                             unwrap_state_dict)
from .backbones import VideoSparseFormer
from .checkpoint import (has_clip_projection, official_state,
                         official_to_checkpoint)


def official_units(state: Dict[str, Tensor]) -> List[int]:
    """Indices ``N`` of the official ``layers.N`` that are units (not
    width transitions, whose keys are ``layers.N.<digit>.*``)."""
    return sorted({
        int(m.group(1))
        for m in (re.match(r'layers\.(\d+)\.([a-z_]+)', k) for k in state)
        if m
    })


def official_arch(state: Dict[str, Tensor]) -> dict:
    """The arch dict an official-layout state dict was built with, as far
    as its shapes tell (image token count for an image file, all tubes for
    a video file). Not visible in weights: v1's focusing repeats and heads
    (4 and 64, as in every release) and the bootstrapped heads (64 channels
    each)."""
    units = official_units(state)
    if not units:
        raise CheckpointError('no SparseFormer units (layers.N.*) in the '
                              'checkpoint')
    axes = 2 if state['initial_roi.weight'].shape[-1] == 4 else 3
    sampling = [i for i, layer in enumerate(units)
                if f'layers.{layer}.roi_offset_bias' in state]
    mlp = next(layer for layer in units
               if f'layers.{layer}.mlp.fc1.weight' in state)
    fc1 = state[f'layers.{mlp}.mlp.fc1.weight']
    arch = dict(
        conv_channels=state['feat_extractor.conv1.weight'].shape[0],
        num_tokens=state['initial_roi.weight'].shape[0],
        num_points=(state[f'layers.{units[sampling[0]]}.roi_offset_bias']
                    .numel() // axes) if sampling else 0,
        focus_dims=state['initial_embedding.weight'].shape[1],
        cortex_dims=state[f'layers.{units[-1]}.norm1.weight'].numel(),
        focus_repeats=4,
        cortex_depth=len(units) - 1,
        sampling_units=tuple(sampling),
        num_heads=64,
        mlp_ratio=fc1.shape[0] // fc1.shape[1])
    if 'cls_embedding.weight' in state:  # bootstrapped from a ViT
        stage = state.get(f'layers.{units[0]}.stage_embedding.weight')
        generator = state[f'layers.{units[sampling[0]]}.adaptive_mixing.'
                          'parameter_generator.1.weight']
        arch.update(
            focus_repeats=len(stage) if stage is not None else 1,
            num_heads=None, head_dims=64, style='btsp',
            gen_dims=generator.shape[0],
            quick_gelu=has_clip_projection(state), cls_token_unit=2)
    return arch


def same_arch(arch: dict, name: str) -> bool:
    """Whether an arch dict is the named arch (drop path aside)."""
    resolve = VideoSparseFormer.resolve_arch
    return dict(resolve(arch), drop_path_rate=0.) == dict(
        resolve(name), drop_path_rate=0.)


def infer_official_arch(state: Dict[str, Tensor],
                        replicates: Optional[int] = None) -> dict:
    """Which arch an official-layout state dict holds, from its shapes.

    Returns:
        dict: ``name`` (of :attr:`VideoSparseFormer.arch_zoo`, or None),
        ``arch`` (the name, or the arch dict of a custom arch) and
        ``replicates`` (of a video file; None for an image file).
    """
    arch = official_arch(state)
    video = state['initial_roi.weight'].shape[-1] == 6
    for name, zoo_arch in VideoSparseFormer.arch_zoo.items():
        candidate = dict(arch)
        if video:
            if replicates is None:
                if arch['num_tokens'] % zoo_arch['num_tokens']:
                    continue
                candidate['num_tokens'] = zoo_arch['num_tokens']
            else:
                candidate['num_tokens'] //= replicates
        # the same arch but for the stochastic depth, which weights omit
        if same_arch(candidate, name):
            return dict(name=name, arch=name,
                        replicates=arch['num_tokens'] //
                        candidate['num_tokens'] if video else None)
    if video:
        if replicates is None:
            raise CheckpointError(
                'a video checkpoint of a custom arch: pass its replicates')
        arch['num_tokens'] //= replicates
    return dict(name=None, arch=arch, replicates=replicates if video else None)


def convert_official_checkpoint(src: str,
                                arch: Union[str, dict, None] = None,
                                replicates: Optional[int] = None) -> dict:
    """Convert an official file of any layout for MMAction2.

    Returns:
        dict: ``checkpoint`` (``state_dict`` with ``backbone.`` /
        ``cls_head.`` keys, and ``meta``), the file's ``layout``, the
        ``arch`` and ``replicates`` it was converted for.

    Args:
        src (str): The official checkpoint.
        arch (str | dict, optional): The arch; inferred from the shapes when
            None, and checked against them when a name.
        replicates (int, optional): Tubes per image token (default 8 for an
            image checkpoint, inferred for a video one).
    """
    state = unwrap_state_dict(load_checkpoint_file(src), src)
    state, layout = official_state(state, src)
    found = infer_official_arch(state, replicates)
    if isinstance(arch, str) and found['name'] and arch != found['name']:
        raise CheckpointError(f'{src} holds a SparseFormer-{found["name"]}, '
                              f'not --arch {arch}')
    arch = arch or found['arch']
    replicates = replicates or found['replicates'] or 8
    backbone = VideoSparseFormer(arch=arch, replicates=replicates)
    return dict(checkpoint=official_to_checkpoint(state, backbone, src),
                layout=layout, arch=arch, replicates=replicates)
