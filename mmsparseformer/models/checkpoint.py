"""Loading SparseFormer checkpoints of every known layout into this project.

Layouts (docs/model.md, "Checkpoint layouts"):

``imagenet_release``
    The original ImageNet training code (``token_roi``, ``ln_attn``, ``ffn``,
    ``head.classifier`` ...), renamed to the official image layout.
``official_image``
    The official library's image model: 4-d RoIs, 2-d offsets.
``official_video``
    The official library's video model: 6-d tubes, 3-d offsets.
``mmsparseformer``
    This project's own keys, bare or inside an MMAction2 recognizer
    checkpoint (``backbone.`` / ``cls_head.`` prefixes).

Everything is first brought to the official *video* layout (renaming and
inflating as needed), then renamed to this project's keys.
"""
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from ..checkpoint_io import (CheckpointError, load_checkpoint_file,
                             unwrap_state_dict)
from ..ops.geometry import boxes_to_tubes
from .sparseformer_unit import upgrade_legacy_keys

LAYOUTS = ('imagenet_release', 'official_image', 'official_video',
           'mmsparseformer')

# ImageNet training-code names -> official library names (applied in order).
_RELEASE_RENAMES = [
    (r'^token_roi\.weight$', 'initial_roi.weight'),
    (r'^token_embedding\.weight$', 'initial_embedding.weight'),
    (r'\.tuo_proj\.', '.out_proj.'),
    (r'\.ln_attn\.', '.norm1.'),
    (r'\.ffn\.0\.', '.norm2.'),
    (r'\.ffn\.1\.', '.mlp.fc1.'),
    (r'\.ffn\.3\.', '.mlp.fc2.'),
    (r'\.attn\.in_proj_(weight|bias)$', r'.attn.qkv.\1'),
    (r'\.attn\.out_proj\.', '.attn.proj.'),
    (r'^head\.norm\.', 'norm.'),
    (r'^head\.classifier\.', 'proj.'),
]

# Official unit sub-keys -> this project's unit sub-keys.
_UNIT_RENAMES = OrderedDict([
    ('norm1.', 'attn.norm.'),
    ('attn.qkv.', 'attn.qkv.'),
    ('attn.proj.', 'attn.proj.'),
    ('norm2.', 'mlp.norm.'),
    ('mlp.fc1.', 'mlp.fc1.'),
    ('mlp.fc2.', 'mlp.fc2.'),
    ('roi_adjust_module.0.', 'roi_adjust.norm.'),
    ('roi_offset_module.0.', 'sampling.offsets.norm.'),
    ('roi_offset_module.1.', 'sampling.offsets.fc.'),
    ('roi_offset_bias', 'sampling.offsets.bias'),
    ('adaptive_mixing.parameter_generator.0.', 'sampling.mixing.norm.'),
    ('adaptive_mixing.parameter_generator.1.', 'sampling.mixing.fc1.'),
    ('adaptive_mixing.parameter_generator.2.', 'sampling.mixing.fc2.'),
    ('adaptive_mixing.m_beta', 'sampling.mixing.channel_bias'),
    ('adaptive_mixing.s_beta', 'sampling.mixing.point_bias'),
    ('adaptive_mixing.out_proj.', 'sampling.mixing.out_proj.'),
    ('stage_embedding.weight', 'stage_embeddings'),
    ('pe_transition.0.', 'pe_inject.norm.'),
    ('pe_transition.1.', 'pe_inject.fc.'),
])
# The RoI adjustment: LN -> Linear (v1), LN -> Linear -> GELU -> Linear
# (bootstrapped).
_ROI_ADJUST_RENAMES = {
    False: {'roi_adjust_module.1.': 'roi_adjust.fc.'},
    True: {'roi_adjust_module.1.': 'roi_adjust.hidden.0.',
           'roi_adjust_module.3.': 'roi_adjust.fc.'},
}
# Backbone keys outside the units.
_TOP_RENAMES = {
    'feat_extractor.conv1.bias': 'stem.conv.bias',
    'initial_roi.weight': 'initial_rois',
    'initial_embedding.weight': 'initial_embeddings',
    'cls_embedding.weight': 'cls_token',
}
#: Parameters of this project that official checkpoints lack and that start
#: at zero when one is loaded: the temporal term of the tube position
#: encoding (docs/model.md, "Tube position encoding").
ZERO_AT_INFLATION = ('pe_inject.time_fc.weight', )


def has_clip_projection(state: Dict[str, Tensor]) -> bool:
    """Whether an official state dict ends in a CLIP projection (``proj``
    without a bias) rather than a classifier."""
    return 'proj.weight' in state and 'proj.bias' not in state


def official_head_key(key: str, clip_projection: bool = False
                      ) -> Optional[str]:
    """An official head key (``norm.*``, ``proj.*``) -> SparseFormerHead's
    (``norm.*``; ``fc_cls.*`` for a classifier, ``proj.*`` for a CLIP
    projection); ``None`` for any other key."""
    prefix = key.split('.')[0] + '.'
    if key.count('.') != 1 or prefix not in ('norm.', 'proj.'):
        return None
    if prefix == 'proj.' and not clip_projection:
        return 'fc_cls.' + key[len(prefix):]
    return key


def is_official_state(state: Dict[str, Tensor]) -> bool:
    """Whether a state dict is an official SparseFormer one (any of the
    official layouts), without raising for other models' state dicts."""
    return 'token_roi.weight' in state or 'initial_roi.weight' in state


def official_file_layout(path: str) -> Optional[str]:
    """The layout of an official SparseFormer checkpoint file; None for
    this project's and other checkpoints. Reads only the keys (the tensors
    are memory-mapped)."""
    state = unwrap_state_dict(load_checkpoint_file(path, mmap=True), path)
    return detect_layout(state, path) if is_official_state(state) else None


def detect_layout(state: Dict[str, Tensor], path: str = '') -> str:
    """Which of :data:`LAYOUTS` a state dict is in."""
    if 'initial_rois' in state or 'backbone.initial_rois' in state:
        return 'mmsparseformer'
    if 'token_roi.weight' in state:
        return 'imagenet_release'
    if 'initial_roi.weight' in state:
        width = state['initial_roi.weight'].shape[-1]
        if width == 4:
            return 'official_image'
        if width == 6:
            return 'official_video'
        raise CheckpointError(f'{path}: initial_roi.weight has shape '
                              f'{tuple(state["initial_roi.weight"].shape)}; '
                              'expected (N, 4) or (N, 6)')
    raise CheckpointError(
        f'{path}: not a SparseFormer checkpoint: none of the keys '
        "'initial_rois', 'token_roi.weight', 'initial_roi.weight' is present "
        f'(first keys: {list(state)[:5]})')


def rename_imagenet_release(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """ImageNet training-code layout -> official image layout."""
    renamed = OrderedDict()
    for key, value in state.items():
        for pattern, repl in _RELEASE_RENAMES:
            key = re.sub(pattern, repl, key)
        renamed[key] = value
    return renamed


def insert_time_axis(value: Tensor, groups: int) -> Tensor:
    """Rows ``(g0x, g0y, g1x, ...)`` -> ``(g0x, g0y, 0, g1x, ...)``.

    ``groups`` is ``P`` for the offsets (one group per point) and 2 for the
    RoI adjustment (centre ``(dx, dy)`` then size ``(dw, dh)``).
    """
    rows = value.view(groups, 2, *value.shape[1:])
    zeros = rows.new_zeros(groups, 1, *value.shape[1:])
    return torch.cat([rows, zeros], dim=1).reshape(groups * 3,
                                                   *value.shape[1:])


def inflate_image_state(state: Dict[str, Tensor],
                        replicates: int) -> Dict[str, Tensor]:
    """Official image layout -> official video layout with ``R`` tubes.

    On a static clip the inflated model computes what the image model
    computes on the frame (tested in ``tests/test_checkpoint.py``).
    """
    video = OrderedDict()
    for key, value in state.items():
        if key == 'feat_extractor.conv1.weight':
            value = value.unsqueeze(2)
        elif key == 'initial_roi.weight':
            value = boxes_to_tubes(value, replicates)
        elif key == 'initial_embedding.weight' and len(value) > 1:
            value = value.repeat(replicates, 1)  # one embedding per token
        elif key.endswith('roi_offset_module.1.weight') or \
                key.endswith('roi_offset_bias'):
            value = insert_time_axis(value, value.shape[0] // 2)
        elif re.search(r'roi_adjust_module\.\d+\.weight$', key) and \
                len(value) == 4:  # the last layer: (dx, dy, dw, dh)
            value = insert_time_axis(value, 2)
        video[key] = value
    return video


def official_layer_names(units) -> List[Tuple[str, str, dict]]:
    """``(official prefix, own prefix, sub-key renames)`` of every unit and
    transition."""
    names = []
    index = 0
    for i, unit in enumerate(units):
        if unit.transition is not None:
            for layer in range(len(unit.transition)):
                names.append((f'layers.{index}.{layer}.',
                              f'units.{i}.transition.{layer}.', {'': ''}))
            index += 1
        roi_adjust = getattr(unit, 'roi_adjust', None)
        renames = dict(_UNIT_RENAMES, **_ROI_ADJUST_RENAMES[
            roi_adjust is not None and roi_adjust.hidden is not None])
        names.append((f'layers.{index}.', f'units.{i}.', renames))
        index += 1
    return names


def official_video_to_own(state: Dict[str, Tensor], units
                          ) -> Tuple[Dict[str, Tensor], Dict[str, Tensor],
                                     List[str]]:
    """Official video layout -> (backbone state, head state, unknown keys)."""
    backbone, head, unknown = OrderedDict(), OrderedDict(), []
    layer_names = official_layer_names(units)
    clip_projection = has_clip_projection(state)
    for key, value in state.items():
        if key == 'feat_extractor.conv1.weight':
            backbone['stem.conv.weight'] = value.squeeze(2)
        elif key in _TOP_RENAMES:
            backbone[_TOP_RENAMES[key]] = value
        elif official_head_key(key, clip_projection) is not None:
            head[official_head_key(key, clip_projection)] = value
        else:
            own = _rename_layer_key(key, layer_names)
            if own is None:
                unknown.append(key)
            else:
                backbone[own] = value
    return backbone, head, unknown


def _rename_layer_key(key: str, layer_names) -> Optional[str]:
    for official, own, renames in layer_names:
        if not key.startswith(official):
            continue
        rest = key[len(official):]
        for old, new in renames.items():
            if rest.startswith(old):
                return own + new + rest[len(old):]
        return None
    return None


def zeros_at_inflation(backbone) -> Dict[str, Tensor]:
    """Zero tensors of :data:`ZERO_AT_INFLATION` for ``backbone``."""
    return OrderedDict((key, torch.zeros_like(value))
                       for key, value in backbone.state_dict().items()
                       if key.endswith(ZERO_AT_INFLATION))


def split_own_state(state: Dict[str, Tensor]
                    ) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
    """This project's keys -> (backbone state, head state); keys of older
    releases of the project are upgraded."""
    if not any(k.startswith('backbone.') for k in state):
        backbone, head = OrderedDict(state), OrderedDict()
    else:
        backbone, head = OrderedDict(), OrderedDict()
        for key, value in state.items():
            if key.startswith('backbone.'):
                backbone[key[len('backbone.'):]] = value
            elif key.startswith('cls_head.'):
                head[key[len('cls_head.'):]] = value
    units = {m.group(0) for m in map(re.compile(r'units\.\d+\.').match,
                                     backbone) if m}
    for prefix in units:
        upgrade_legacy_keys(backbone, prefix)
    return backbone, head


def convert_state_dict(state: Dict[str, Tensor], backbone,
                       path: str = '') -> dict:
    """Any known layout -> this project's keys for ``backbone``'s arch.

    Returns:
        dict: ``backbone`` and ``head`` state dicts, the source ``layout``
        and ``unknown`` keys that have no counterpart.
    """
    layout = detect_layout(state, path)
    unknown: List[str] = []
    if layout == 'mmsparseformer':
        own_backbone, head = split_own_state(state)
    else:
        if layout == 'imagenet_release':
            state = rename_imagenet_release(state)
        if layout in ('imagenet_release', 'official_image'):
            state = inflate_image_state(state, backbone.replicates)
        check_family(state, backbone, path)
        own_backbone, head, unknown = official_video_to_own(
            state, backbone.units)
        for key, value in zeros_at_inflation(backbone).items():
            own_backbone.setdefault(key, value)
    return dict(backbone=own_backbone, head=head, layout=layout,
                unknown=unknown)


def check_family(state: Dict[str, Tensor], backbone, path: str) -> None:
    """An official checkpoint of another family than ``backbone``'s arch
    (v1 / bootstrapped, CLIP / AugReg) is an error that names both: their
    weights can have the same shapes (the CLIP and AugReg backbones differ
    only in the MLP activation)."""
    settings = backbone.arch_settings
    bootstrapped = 'cls_embedding.weight' in state
    if bootstrapped != (settings['style'] == 'btsp'):
        kind = 'a bootstrapped' if bootstrapped else 'a v1'
        raise CheckpointError(
            f'{path}: {kind} SparseFormer checkpoint (cls_embedding.weight '
            f"{'present' if bootstrapped else 'absent'}) does not fit "
            f'{backbone_description(backbone)}')
    if bootstrapped and 'proj.weight' in state and \
            has_clip_projection(state) != settings['quick_gelu']:
        clip = has_clip_projection(state)
        raise CheckpointError(
            f'{path}: {"a CLIP" if clip else "an AugReg"}-bootstrapped '
            f'SparseFormer checkpoint (proj.weight '
            f'{tuple(state["proj.weight"].shape)}, '
            f'{"no " if clip else ""}proj.bias) does not fit '
            f'{backbone_description(backbone)}: use a '
            f'btsp-{"clip" if clip else "augreg"}-* arch')


def check_shapes(module, state: Dict[str, Tensor], path: str,
                 description: str) -> None:
    """Raise naming the key and both shapes when a tensor does not fit."""
    own = module.state_dict()
    for key, value in state.items():
        if key in own and own[key].shape != value.shape:
            raise CheckpointError(
                f'{path}: {key!r} has shape {tuple(value.shape)} in the '
                f'checkpoint but {tuple(own[key].shape)} in {description}; '
                'the checkpoint is of another arch (or replicates / class '
                'count)')


def backbone_description(backbone) -> str:
    arch = backbone.arch_name or 'custom'
    return f'VideoSparseFormer(arch={arch!r}, ' \
           f'replicates={backbone.replicates})'


def load_backbone_checkpoint(backbone, path: str, logger=None) -> dict:
    """Load (converting / inflating) a checkpoint into a VideoSparseFormer.

    Logs the layout, what was loaded, dropped and missing. Raises
    :class:`CheckpointError` for unreadable files and shape mismatches.
    """
    state = unwrap_state_dict(load_checkpoint_file(path), path)
    converted = convert_state_dict(state, backbone, path)
    weights = converted['backbone']
    check_shapes(backbone, weights, path, backbone_description(backbone))
    own_keys = set(backbone.state_dict())
    missing = sorted(own_keys - set(weights))
    dropped = sorted(set(weights) - own_keys) + converted['unknown']
    backbone.load_state_dict(
        {k: v
         for k, v in weights.items() if k in own_keys}, strict=False)
    if logger is not None:
        logger.info(
            f'VideoSparseFormer: loaded {len(own_keys) - len(missing)} '
            f'tensors from {path} ({converted["layout"]} layout'
            + (f', inflated to {backbone.replicates} replicates'
               if converted['layout'] in ('official_image',
                                          'imagenet_release') else '') + ')')
        if missing:
            logger.warning(f'VideoSparseFormer: missing in {path}: {missing}')
        if dropped:
            logger.warning(f'VideoSparseFormer: dropped from {path}: '
                           f'{dropped}')
    return dict(layout=converted['layout'], missing=missing, dropped=dropped)


def load_head_checkpoint(head, path: str, logger=None) -> dict:
    """Load ``norm``, a CLIP projection ``proj`` (when the head has one)
    and, when the class count matches, ``fc_cls``."""
    state = unwrap_state_dict(load_checkpoint_file(path), path)
    layout = detect_layout(state, path)
    if layout == 'mmsparseformer':
        _, weights = split_own_state(state)
    else:
        if layout == 'imagenet_release':
            state = rename_imagenet_release(state)
        clip = has_clip_projection(state)
        weights = OrderedDict(
            (official_head_key(key, clip), value)
            for key, value in state.items()
            if official_head_key(key, clip) is not None)
    check_projection(head, weights, path)
    dropped = []
    fc_weight = weights.get('fc_cls.weight')
    if fc_weight is not None and fc_weight.shape[0] != head.num_classes:
        dropped = [k for k in weights if k.startswith('fc_cls.')]
        if logger is not None:
            logger.info(
                f'SparseFormerHead: dropped the classifier of {path}: it has '
                f'{fc_weight.shape[0]} classes, the config '
                f'{head.num_classes}')
        weights = {k: v for k, v in weights.items() if k not in dropped}
    check_shapes(head, weights, path, head_description(head))
    own_keys = set(head.state_dict())
    head.load_state_dict({k: v
                          for k, v in weights.items() if k in own_keys},
                         strict=False)
    loaded = sorted(own_keys & set(weights))
    if logger is not None:
        logger.info(f'SparseFormerHead: loaded {loaded} from {path}')
    return dict(loaded=loaded, dropped=dropped)


def head_description(head) -> str:
    return (f'{type(head).__name__}(in_channels={head.in_channels}, '
            f'proj_dims={head.proj_dims})')


def check_projection(head, weights: Dict[str, Tensor], path: str) -> None:
    """A head that keeps a CLIP projection needs one in the checkpoint, and
    a checkpoint's CLIP projection needs a head that keeps it."""
    if head.proj_dims and 'proj.weight' not in weights:
        found = weights.get('fc_cls.weight')
        raise CheckpointError(
            f'{path}: {head_description(head)} keeps the checkpoint\'s CLIP '
            'projection (proj.weight without a bias), but the checkpoint has '
            'none' + (f' (it ends in a {found.shape[0]}-class classifier: '
                      'an AugReg checkpoint?)' if found is not None else ''))
    if not head.proj_dims and 'proj.weight' in weights:
        raise CheckpointError(
            f'{path}: the checkpoint ends in a CLIP projection (proj.weight '
            f'{tuple(weights["proj.weight"].shape)}, no bias) that '
            f'{head_description(head)} has no place for: set proj_dims='
            f'{weights["proj.weight"].shape[0]} (a btsp-clip config)')


def official_state(state: Dict[str, Tensor], path: str = '') -> Tuple[
        Dict[str, Tensor], str]:
    """Any official layout -> (official image or video layout, layout)."""
    layout = detect_layout(state, path)
    if layout == 'mmsparseformer':
        raise CheckpointError(f'{path}: already an mmsparseformer checkpoint')
    if layout == 'imagenet_release':
        state = rename_imagenet_release(state)
    return state, layout


def official_to_checkpoint(state: Dict[str, Tensor], backbone,
                           source: str = '') -> dict:
    """An MMAction2-loadable checkpoint (``backbone.`` / ``cls_head.`` keys)
    from an official SparseFormer state dict, for ``backbone``'s arch."""
    converted = convert_state_dict(state, backbone, source)
    check_shapes(backbone, converted['backbone'], source,
                 backbone_description(backbone))
    missing = sorted(set(backbone.state_dict()) - set(converted['backbone']))
    if converted['unknown'] or missing:
        raise CheckpointError(
            f'{source}: does not fit {backbone_description(backbone)}: '
            f'unknown keys {converted["unknown"][:10]}, missing {missing[:10]}')
    out = OrderedDict(('backbone.' + k, v)
                      for k, v in converted['backbone'].items())
    out.update(('cls_head.' + k, v) for k, v in converted['head'].items())
    return dict(
        state_dict=out,
        meta=dict(
            source=osp.basename(source),
            source_layout=converted['layout'],
            arch=backbone.arch_name or backbone.arch_settings,
            replicates=backbone.replicates))
