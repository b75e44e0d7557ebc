"""Helpers of the tests: a micro recognizer, random videos, lists.

Test-only: no module of the package imports this one. The micro arch and
the trained-looking initialisation live in :mod:`mmsparseformer.utils`
(the speed tool uses them too) and are re-exported here.
"""
import contextlib
import copy
import os
import os.path as osp
from typing import Iterator, List, Optional, Tuple
from unittest import mock

import numpy as np
import torch
import torch.nn as nn
from mmengine.registry import init_default_scope

from mmaction.registry import MODELS
from .utils.micro import (ADAPTIVE_WEIGHTS, MICRO_ARCH,
                          randomise_adaptive_layers)
from .utils.video_io import write_lines, write_video

__all__ = [
    'ADAPTIVE_WEIGHTS', 'MICRO_ARCH', 'build_micro_recognizer',
    'in_process', 'micro_recognizer_cfg', 'randomise_adaptive_layers',
    'write_random_videos', 'write_lines', 'write_video'
]


def micro_recognizer_cfg(num_classes: int = 5,
                         replicates: int = 2,
                         **head_kwargs) -> dict:
    """The model config of a ``Recognizer3D`` with :data:`MICRO_ARCH`,
    ``SparseFormerHead`` (``average_clips='prob'`` unless given) and
    MMAction2's ImageNet-normalising ``ActionDataPreprocessor``."""
    head = dict(average_clips='prob')
    head.update(head_kwargs)
    return dict(
        type='Recognizer3D',
        backbone=dict(
            type='VideoSparseFormer',
            arch=copy.deepcopy(MICRO_ARCH),
            replicates=replicates),
        cls_head=dict(
            type='SparseFormerHead',
            num_classes=num_classes,
            in_channels=MICRO_ARCH['cortex_dims'],
            **head),
        data_preprocessor=dict(
            type='ActionDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            format_shape='NCTHW'))


def build_micro_recognizer(model_cfg: Optional[dict] = None,
                           seed: Optional[int] = 0,
                           adaptive_std: Optional[float] = None,
                           classifier_std: Optional[float] = None
                           ) -> nn.Module:
    """A freshly initialised recognizer (eval mode) of ``model_cfg``
    (default :func:`micro_recognizer_cfg`), built through MMAction2's
    registry.

    Args:
        seed (int, optional): ``torch.manual_seed`` before building.
        adaptive_std (float, optional): Randomise the zero-initialised
            adaptive layers with this std
            (:func:`~mmsparseformer.utils.micro.randomise_adaptive_layers`).
        classifier_std (float, optional): Redraw the classifier's weights
            with this std, so that the class scores spread out.
    """
    if seed is not None:
        torch.manual_seed(seed)
    init_default_scope('mmaction')
    model = MODELS.build(copy.deepcopy(model_cfg or micro_recognizer_cfg()))
    # part by part: the recognizer's own init_weights logs a table
    model.backbone.init_weights()
    model.cls_head.init_weights()
    if adaptive_std is not None:
        randomise_adaptive_layers(model, adaptive_std)
    if classifier_std is not None:
        with torch.no_grad():
            model.cls_head.fc_cls.weight.normal_(0., classifier_std)
    return model.eval()


def write_random_videos(root: str,
                        num_videos: int,
                        num_classes: int,
                        num_frames: int = 8,
                        size: Tuple[int, int] = (32, 32),
                        seed: int = 0,
                        list_name: Optional[str] = 'list.txt') -> List[str]:
    """Random-noise mp4 clips ``video_{i}.mp4`` under ``root`` and an
    MMAction2 annotation list (``filename label`` per line).

    Returns the annotation lines.
    """
    rng = np.random.default_rng(seed)
    lines = []
    for index in range(num_videos):
        frames = rng.integers(
            0, 256, (num_frames, size[0], size[1], 3), dtype=np.uint8)
        name = f'video_{index}.mp4'
        write_video(osp.join(root, name), frames)
        lines.append(f'{name} {index % num_classes}')
    if list_name:
        write_lines(osp.join(root, list_name), lines)
    return lines


@contextlib.contextmanager
def in_process(cwd: str) -> Iterator[None]:
    """Run a tool's ``main`` in this process as a subprocess of the tests
    would run: in ``cwd`` (configs' data paths are relative to it), on the
    CPU."""
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        with mock.patch.object(torch.cuda, 'is_available', lambda: False), \
                mock.patch('mmengine.device.utils.DEVICE', 'cpu'):
            yield
    finally:
        os.chdir(previous)
