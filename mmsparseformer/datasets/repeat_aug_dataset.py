"""Repeated augmentation that survives unreadable videos.

MMAction2's ``RepeatAugDataset`` (used by its MViT Kinetics-400 configs)
decodes a video once and returns several augmented clips of it, so that
the decoding, the dominant CPU cost of a training clip, is shared. It
stops a run on the first unreadable video, and with ``sample_once=True``
it hands decord the same frame indices ``num_repeats`` times over, so each
frame is fetched and converted to RGB once per repeat (about 20 % more
decoding time for 2 repeats of a 256p clip, measured).
:class:`RobustRepeatAugDataset` decodes each distinct frame once, copies it
for the other clips, and replaces an unreadable video as
:class:`RobustVideoDataset` does.

Batch-size and epoch arithmetic (``R = num_repeats``, ``N`` videos,
``G`` GPUs): an item is one video and ``R`` clips, so a GPU's batch of
``batch_size`` items holds ``batch_size x R`` clips (collate with
MMAction2's ``repeat_pseudo_collate``), an epoch has ``N / (G x
batch_size)`` iterations and ``N x R`` clips. Keeping the clips per
optimizer step and in total of a plain recipe means ``batch_size / R`` and
``epochs / R``: each video is then seen as often as before, ``R`` clips at
a time, and each batch holds ``batch_size / R`` distinct videos.
"""
import copy
from typing import Any, Callable, List, Optional, Union

import numpy as np

from mmaction.datasets.repeat_aug_dataset import get_type
from mmaction.registry import DATASETS
from .robust_video_dataset import RobustVideoDataset


def check_repeat_pipeline(pipeline: List[Union[dict, Callable]]) -> None:
    """The pipeline must start with an ``*Init`` transform, a frame
    sampler and a ``*Decode`` transform (the shared, decoded part)."""
    names = [get_type(t) for t in pipeline[:3]]
    if len(names) < 3 or not names[0].endswith('Init') or \
            not names[2].endswith('Decode'):
        raise ValueError(
            'RobustRepeatAugDataset needs a pipeline that starts with an '
            'init, a frame sampler and a decode transform (e.g. DecordInit, '
            f'SampleFrames, DecordDecode), got {names}')


def own_frames(frames: dict, inds: np.ndarray, used: set) -> list:
    """The frames of ``inds``; a frame already handed out (to an earlier
    clip or earlier in this one) is copied."""
    imgs = []
    for index in inds.tolist():
        imgs.append(frames[index].copy() if index in used else frames[index])
        used.add(index)
    return imgs


@DATASETS.register_module()
class RobustRepeatAugDataset(RobustVideoDataset):
    """A training dataset that makes ``num_repeats`` clips per decoded video
    and replaces unreadable videos by other samples.

    Each item is a list of ``num_repeats`` packed clips of one video with
    its label. The pipeline's first three transforms (open, sample frames,
    decode) run once per video; the rest (crops, flips, formatting) run
    once per clip, so every clip has its own random augmentation.

    Args:
        ann_file (str): Annotation list (``filename label`` per line).
        pipeline (list): Data transforms: init, sampler, decode, then the
            per-clip transforms.
        num_repeats (int): Clips per video. Defaults to 2 (MMAction2's
            MViT K400 configs).
        sample_once (bool): All clips of a video share their frame indices
            (then only the augmentation after decoding differs, and the
            frames are decoded once); else each clip samples its own
            frames (the union is decoded once). Defaults to True.
        **kwargs: Other arguments of :class:`RobustVideoDataset`
            (``data_prefix``, ``max_refetch``, ...). Training only.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 num_repeats: int = 2,
                 sample_once: bool = True,
                 **kwargs) -> None:
        if int(num_repeats) < 1:
            raise ValueError(f'num_repeats must be >= 1, got {num_repeats}')
        if kwargs.get('test_mode'):
            raise ValueError('RobustRepeatAugDataset is for training; use '
                             'RobustVideoDataset for validation and testing')
        check_repeat_pipeline(pipeline)
        self.num_repeats = int(num_repeats)
        self.sample_once = sample_once
        super().__init__(ann_file, pipeline, **kwargs)

    def _sample_windows(self, sampler, results: dict) -> List[dict]:
        """The sampler's output (``frame_inds`` and what it adds) for each
        clip."""
        draws = 1 if self.sample_once else self.num_repeats
        windows = [
            sampler(
                dict(
                    total_frames=results['total_frames'],
                    start_index=results['start_index']))
            for _ in range(draws)
        ]
        return windows * self.num_repeats if self.sample_once else windows

    def _decode(self, results: dict) -> Optional[tuple]:
        """Open the video, sample every clip's frames and decode their
        union once. Returns ``(results, windows, frames by index)``."""
        init, sampler, decode = self.pipeline.transforms[:3]
        results = init(results)
        if results.get('total_frames', 1) <= 0:
            raise ValueError('the video has no frames')
        windows = self._sample_windows(sampler, results)
        inds = [np.asarray(w['frame_inds']).reshape(-1) for w in windows]
        union = np.unique(np.concatenate(inds))
        results.update(windows[0])
        results['frame_inds'] = union
        results = decode(results)
        frames = dict(zip(union.tolist(), results.pop('imgs')))
        return results, windows, frames

    def prepare_data(self, idx: int) -> Any:
        """``num_repeats`` packed clips of video ``idx``, or ``None`` (an
        unreadable video: another sample is fetched)."""
        results = self.get_data_info(idx)
        filename = results.get('filename', f'sample {idx}')
        try:
            results, windows, frames = self._decode(results)
        except Exception as error:  # open / sample / decode: unreadable
            return self._unreadable(filename, error)
        # hand out every clip's frames before any transform runs: transforms
        # such as Flip work in place on the arrays
        clips, used = [], set()
        for window in windows:
            clip = copy.deepcopy(results)
            clip.update(window)
            clip['frame_inds'] = np.asarray(window['frame_inds']).reshape(-1)
            clip['imgs'] = own_frames(frames, clip['frame_inds'], used)
            clips.append(clip)
        for index, clip in enumerate(clips):
            for transform in self.pipeline.transforms[3:]:
                clip = transform(clip)
                if clip is None:
                    return None
            clips[index] = clip
        return clips
