"""Build a recognizer from a config for inference, counting and export."""
import copy
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import Tensor

from mmaction.registry import MODELS
from ..analysis.protocol import load_config
from ..checkpoint_io import CheckpointError, load_checkpoint_file
from ..models.checkpoint import is_official_state, official_to_checkpoint


class ClipRecognizer(nn.Module):
    """A recognizer as a function of normalised clips.

    ``(B, 3, T, H, W)`` clips, normalised as the model's data preprocessor
    does, to ``(scores, logits)``, both ``(B, num_classes)``, ``scores``
    being the softmax of ``logits``. It runs what ``Recognizer3D`` runs on
    one view (backbone, neck, head) and is what ``tools/infer.py``, the
    FLOP counter and the ONNX export share.
    """

    def __init__(self, recognizer: nn.Module) -> None:
        super().__init__()
        self.backbone = recognizer.backbone
        self.neck = recognizer.neck if getattr(recognizer, 'with_neck',
                                               False) else None
        self.cls_head = recognizer.cls_head

    def forward(self, clips: Tensor) -> Tuple[Tensor, Tensor]:
        feats = self.backbone(clips)
        if self.neck is not None:
            feats, _ = self.neck(feats)
        logits = self.cls_head(feats)
        return logits.softmax(dim=-1), logits


def model_cfg_without_weights(cfg: Config) -> dict:
    """``cfg.model`` with the backbone's pretrained weights switched off
    (as ``mmaction.apis.init_recognizer`` does), so that building loads
    nothing."""
    model_cfg = copy.deepcopy(cfg.model)
    backbone = model_cfg.get('backbone')
    if isinstance(backbone, dict) and backbone.get('pretrained'):
        backbone['pretrained'] = None
    return model_cfg


def load_recognizer_weights(model: nn.Module, checkpoint: str) -> None:
    """Load a recognizer checkpoint (an mmengine runner checkpoint or a bare
    state dict) strictly, with an error that names the keys that differ.

    An official SparseFormer file (any layout) is converted for the
    model's VideoSparseFormer backbone first (image weights inflated), as
    ``tools/convert/sparseformer_official.py`` would: its backbone, final
    norm and CLIP projection fit a zero-shot config's model.
    """
    state = load_checkpoint_file(checkpoint)
    if isinstance(state, dict):
        for key in ('state_dict', 'model'):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(
            isinstance(value, Tensor) for value in state.values()):
        raise CheckpointError(f'{checkpoint} holds no state dict of tensors')
    state = {
        key[len('module.'):] if key.startswith('module.') else key: value
        for key, value in state.items()
    }
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
    model = MODELS.build(model_cfg_without_weights(cfg))
    if checkpoint is not None:
        load_recognizer_weights(model, checkpoint)
    model.cfg = cfg
    return model.to(device).eval()
