"""Whole official SparseFormer checkpoints -> this project's: which arch a
file holds (from its shapes), and the conversion of ``tools/convert``."""
import re
from typing import Dict, Optional, Union

from torch import Tensor

from ..checkpoint_io import (CheckpointError, load_checkpoint_file,
                             unwrap_state_dict)
from .backbones import VideoSparseFormer
from .checkpoint import official_state, official_to_checkpoint


def infer_official_arch(state: Dict[str, Tensor],
                        replicates: Optional[int] = None) -> dict:
    """The arch dict of an official-layout state dict, from its shapes.

    Focusing repeats (shared weights) and heads are not visible in weights:
    the v1 values (4 repeats, 64 heads) are assumed. The named arch is used
    when the shapes match one of the zoo.
    """
    units = sorted({
        int(m.group(1))
        for m in (re.match(r'layers\.(\d+)\.norm1\.weight$', k) for k in state)
        if m
    })
    if not units:
        raise CheckpointError('no SparseFormer units (layers.N.norm1.weight) '
                              'in the checkpoint')
    rois = state['initial_roi.weight']
    axes = 2 if rois.shape[-1] == 4 else 3
    sampling = [
        i for i, layer in enumerate(units)
        if f'layers.{layer}.roi_offset_bias' in state
    ]
    first_sampler = units[sampling[0]] if sampling else None
    arch = dict(
        conv_channels=state['feat_extractor.conv1.weight'].shape[0],
        num_tokens=rois.shape[0],
        num_points=(state[f'layers.{first_sampler}.roi_offset_bias'].numel()
                    // axes) if sampling else 0,
        focus_dims=state[f'layers.{units[0]}.norm1.weight'].numel(),
        cortex_dims=state[f'layers.{units[-1]}.norm1.weight'].numel(),
        focus_repeats=4,
        cortex_depth=len(units) - 1,
        sampling_units=tuple(sampling),
        num_heads=64,
        mlp_ratio=state[f'layers.{units[0]}.mlp.fc1.weight'].shape[0] //
        state[f'layers.{units[0]}.norm1.weight'].numel())
    for name, zoo_arch in VideoSparseFormer.arch_zoo.items():
        candidate = dict(arch)
        if axes == 3:
            if replicates is None:
                if arch['num_tokens'] % zoo_arch['num_tokens']:
                    continue
                candidate['num_tokens'] = zoo_arch['num_tokens']
            else:
                candidate['num_tokens'] //= replicates
        zoo = {k: v for k, v in zoo_arch.items() if k != 'drop_path_rate'}
        if candidate == zoo:
            return dict(name=name, arch=name,
                        replicates=arch['num_tokens'] //
                        candidate['num_tokens'] if axes == 3 else None)
    if axes == 3:
        if replicates is None:
            raise CheckpointError(
                'a video checkpoint of a custom arch: pass its replicates')
        arch['num_tokens'] //= replicates
    return dict(name=None, arch=arch,
                replicates=replicates if axes == 3 else None)


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
