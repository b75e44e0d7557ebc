"""Datasets, hooks and data tools for Kinetics-style video lists.

Importing this package registers :class:`RobustVideoDataset` and
:class:`RobustRepeatAugDataset` in ``mmaction.registry.DATASETS``, the
seeking PyAV decoder (``PyAVSeekInit``, ``PyAVSeekDecode``) in
``mmaction.registry.TRANSFORMS`` and :class:`UnreadableVideoHook` in
``mmaction.registry.HOOKS``.
"""
from .pyav_loading import IndexedVideo, PyAVSeekDecode, PyAVSeekInit
from .repeat_aug_dataset import RobustRepeatAugDataset
from .robust_video_dataset import (UNREADABLE_VIDEOS_KEY, RobustVideoDataset,
                                   UnreadableVideoError)
from .unreadable_video_hook import UnreadableVideoHook
from .video_check import (check_video, read_list_filenames,
                          read_unreadable_list, write_unreadable_list)

__all__ = [
    'IndexedVideo', 'PyAVSeekDecode', 'PyAVSeekInit',
    'RobustRepeatAugDataset', 'RobustVideoDataset', 'UnreadableVideoError',
    'UnreadableVideoHook',
    'UNREADABLE_VIDEOS_KEY', 'check_video', 'read_list_filenames',
    'read_unreadable_list', 'write_unreadable_list'
]
