"""A test-size VideoSparseFormer and a trained-looking initialisation.

Shared by the tests (through :mod:`mmsparseformer.testing`) and the speed
tool (``--arch micro``). Plain config data and a parameter walk: nothing
here imports the model.
"""
from typing import Dict, Sequence, Union

import torch
import torch.nn as nn

#: A tiny VideoSparseFormer arch (about 0.1 M parameters).
MICRO_ARCH = dict(
    conv_channels=16,
    num_tokens=4,
    num_points=8,
    focus_dims=32,
    cortex_dims=64,
    focus_repeats=2,
    cortex_depth=2,
    sampling_units=(0, 1),
    num_heads=4,
    mlp_ratio=2)

#: Weights that a fresh SparseFormer sets to zero, so that tubes, sampling
#: points and the mixing start static: the RoI adjustment, the sampling
#: offsets and the mixing parameter generator.
ADAPTIVE_WEIGHTS = ('roi_adjust.fc.weight', 'offsets.fc.weight',
                    'mixing.fc2.weight')


def randomise_adaptive_layers(
        model: nn.Module,
        std: Union[float, Dict[str, float]] = 0.05,
        weights: Sequence[str] = ADAPTIVE_WEIGHTS) -> nn.Module:
    """Give the zero-initialised adaptive weights small random values, as
    after training, so that every path of the model is exercised.

    Args:
        model (nn.Module): A VideoSparseFormer or a module holding one.
        std (float | dict): Std of the normal draw, or one per weight name
            ending (names missing from the dict are left alone).
        weights (Sequence[str]): Parameter name endings to randomise.

    Returns:
        nn.Module: ``model``, changed in place.
    """
    stds = std if isinstance(std, dict) else dict.fromkeys(weights, std)
    with torch.no_grad():
        for name, param in model.named_parameters():
            ending = next((w for w in weights if name.endswith(w)), None)
            if ending is not None and ending in stds:
                param.normal_(0., stds[ending])
    return model
