"""Build a recognizer from a config for inference, counting and export."""
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmaction.registry import MODELS
from ..checkpoint_io import (CheckpointError, load_checkpoint_file,
                             unwrap_state_dict)
from ..models.checkpoint import is_official_state, official_to_checkpoint
from ..utils.config import load_config, model_cfg_without_weights


def load_recognizer_weights(model: nn.Module, checkpoint: str) -> None:
    """Load a recognizer checkpoint (an mmengine runner checkpoint or a bare
    state dict) strictly, with an error that names the keys that differ.

    An official SparseFormer file (any layout) is converted for the
    model's VideoSparseFormer backbone first (image weights inflated), as
    ``tools/convert/sparseformer_official.py`` would: its backbone, final
    norm and CLIP projection fit a zero-shot config's model.
    """
    state = unwrap_state_dict(load_checkpoint_file(checkpoint), checkpoint)
    official = is_official_state(state)
    if official:
        state = official_to_checkpoint(state, model.backbone,
                                       checkpoint)['state_dict']
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        hint = ('an official SparseFormer checkpoint has no classifier for '
                'this config: fine-tune it first, or test it with a '
                'zero-shot config' if official else
                'is it a checkpoint of this config?')
        raise CheckpointError(
            f'{checkpoint} does not fit the config\'s model: '
            f'{len(result.missing_keys)} missing keys '
            f'{result.missing_keys[:5]}, {len(result.unexpected_keys)} '
            f'unexpected keys {result.unexpected_keys[:5]} ({hint})')


def build_recognizer(config: Union[str, Config],
                     checkpoint: Optional[str] = None,
                     device: Union[str, torch.device] = 'cpu') -> nn.Module:
    """The config's recognizer in eval mode on ``device``.

    With ``checkpoint`` its weights are loaded (strictly); without, the
    weights are PyTorch's default initialisation (for counting and
    benchmarking), and no pretrained file is read.
    """
    cfg = load_config(config)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model = MODELS.build(model_cfg_without_weights(cfg.model))
    if checkpoint is not None:
        load_recognizer_weights(model, checkpoint)
    model.cfg = cfg
    return model.to(device).eval()
