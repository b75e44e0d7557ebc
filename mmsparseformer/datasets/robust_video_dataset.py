"""A ``VideoDataset`` that survives corrupt, empty and unreadable videos.

MMAction2 1.2.0 stops a training run on the first video decord cannot read.
:class:`RobustVideoDataset` instead

* in training, logs the file, returns ``None`` so that mmengine's
  :class:`~mmengine.dataset.BaseDataset` fetches another random sample
  (at most ``max_refetch`` times), and records the replaced files in the
  returned sample's metainfo (``unreadable_videos``), so that
  :class:`~mmsparseformer.datasets.UnreadableVideoHook` counts them in the
  main process even when dataloader workers are separate processes;
* in validation and testing, raises :class:`UnreadableVideoError` naming the
  file: the reported accuracy must cover the whole list. With
  ``skip_unreadable`` the unreadable videos are left out of the list up
  front (decoded once, or read from the list that
  ``tools/data/kinetics/check_videos.py`` writes) and listed.

Clips shorter than the sampling window work as in MMAction2: ``SampleFrames``
loops over their frames.
"""
import logging
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Union

from mmengine.dist import all_gather_object, get_dist_info
from mmengine.logging import print_log

from mmaction.datasets import VideoDataset
from mmaction.registry import DATASETS
from .video_check import check_video, first_line, read_unreadable_list

#: Metainfo key of a training sample: the unreadable videos it replaced.
UNREADABLE_VIDEOS_KEY = 'unreadable_videos'
#: Transforms from this module read the file; their errors mean "unreadable".
LOADING_MODULE = 'mmaction.datasets.transforms.loading'
SKIP_HINT = ('fix or remove the file (tools/data/kinetics/check_videos.py '
             'finds every unreadable video of a list), or pass --cfg-options '
             'test_dataloader.dataset.skip_unreadable=True (val_dataloader '
             'for validation) to leave unreadable videos out of the '
             'evaluation; they are then listed')


class UnreadableVideoError(RuntimeError):
    """A video file that cannot be decoded."""


def is_loading_transform(transform: Callable) -> bool:
    """Whether ``transform`` is one of MMAction2's file-reading transforms
    (``DecordInit``, ``SampleFrames``, ``DecordDecode``, ``PyAVInit``...)
    or a subclass of one."""
    return any(cls.__module__ == LOADING_MODULE
               for cls in type(transform).__mro__)


@DATASETS.register_module()
class RobustVideoDataset(VideoDataset):
    """:class:`~mmaction.datasets.VideoDataset` that replaces (training) or
    names (testing) videos that cannot be read.

    Args:
        ann_file (str): Annotation list (``filename label`` per line).
        pipeline (list): Data transforms.
        skip_unreadable (bool | str): Leave unreadable videos out of the
            dataset before iterating. ``True`` decodes every listed video
            once (first, middle and last frames, shared across distributed
            ranks); a path reads the list written by
            ``tools/data/kinetics/check_videos.py`` (names as in
            ``ann_file``) without decoding. Skipped videos are logged and
            kept in :attr:`skipped_videos`. Defaults to False.
        max_refetch (int): In training, how many other samples to try after
            an unreadable one before giving up. Defaults to 10.
        probe_threads (int): Threads that decode videos for
            ``skip_unreadable=True``. Defaults to 8.
        **kwargs: Other arguments of :class:`VideoDataset`
            (``data_prefix``, ``test_mode``, ...).
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 skip_unreadable: Union[bool, str] = False,
                 max_refetch: int = 10,
                 probe_threads: int = 8,
                 **kwargs) -> None:
        if not isinstance(skip_unreadable, (bool, str)):
            raise TypeError('skip_unreadable must be a bool or the path of a '
                            'list of unreadable videos, got '
                            f'{skip_unreadable!r}')
        self.skip_unreadable = skip_unreadable
        self.probe_threads = max(1, int(probe_threads))
        #: ``(filename, reason)`` of the videos left out by skip_unreadable.
        self.skipped_videos: List[tuple] = []
        self._replaced: List[str] = []
        super().__init__(
            ann_file, pipeline=pipeline, max_refetch=max_refetch, **kwargs)

    # ------------------------------------------------------ skip_unreadable
    def _list_name(self, filename: str) -> str:
        """The name of a video as written in the annotation list."""
        prefix = self.data_prefix.get('video')
        if prefix:
            return osp.relpath(filename, prefix)
        return filename

    def _find_unreadable(self) -> Dict[str, str]:
        """``{filename: reason}`` for the videos that do not decode."""
        if isinstance(self.skip_unreadable, str):
            listed = read_unreadable_list(self.skip_unreadable)
            found = {}
            for info in self.data_list:
                name = info['filename']
                for key in (self._list_name(name), name):
                    if key in listed:
                        found[name] = listed[key]
            return found
        backends = {
            getattr(transform, 'io_backend', 'disk')
            for transform in self.pipeline.transforms
        } - {'disk'}
        if backends:
            raise ValueError(
                'skip_unreadable=True decodes local files, but the pipeline '
                f'reads with io_backend={sorted(backends)}; pass the path of '
                'a list of unreadable videos instead')
        # Each rank decodes its share; the results are gathered.
        rank, world_size = get_dist_info()
        share = [info['filename'] for info in self.data_list[rank::world_size]]
        print_log(
            f'skip_unreadable: decoding {len(self.data_list)} videos of '
            f'{self.ann_file} to find unreadable ones', logger='current')
        with ThreadPoolExecutor(self.probe_threads) as pool:
            reasons = list(pool.map(check_video, share))
        found = {
            name: reason
            for name, reason in zip(share, reasons) if reason is not None
        }
        merged = {}
        for part in all_gather_object(found):
            merged.update(part)
        return merged

    def filter_data(self) -> List[dict]:
        """Leave unreadable videos out when ``skip_unreadable`` is set."""
        data_list = super().filter_data()
        if self.skip_unreadable is False:
            return data_list
        unreadable = self._find_unreadable()
        self.skipped_videos = [(info['filename'], unreadable[info['filename']])
                               for info in data_list
                               if info['filename'] in unreadable]
        if self.skipped_videos:
            print_log(
                f'skip_unreadable: {len(self.skipped_videos)} of '
                f'{len(data_list)} videos of {self.ann_file} are left out:\n'
                + '\n'.join(f'  {name}: {reason}'
                            for name, reason in self.skipped_videos),
                logger='current',
                level=logging.WARNING)
        else:
            print_log(
                f'skip_unreadable: all {len(data_list)} videos of '
                f'{self.ann_file} are readable', logger='current')
        return [
            info for info in data_list if info['filename'] not in unreadable
        ]

    # -------------------------------------------------------------- loading
    def prepare_data(self, idx: int) -> Any:
        """Run the pipeline; an error of a file-reading transform (or a video
        without frames) makes the sample unreadable."""
        results = self.get_data_info(idx)
        filename = results.get('filename', f'sample {idx}')
        for transform in self.pipeline.transforms:
            try:
                results = transform(results)
            except Exception as error:
                if not is_loading_transform(transform):
                    raise
                return self._unreadable(filename, error)
            if results is None:
                return None
            if is_loading_transform(transform) and \
                    results.get('total_frames', 1) <= 0:
                return self._unreadable(
                    filename, ValueError('the video has no frames'))
        return results

    def _unreadable(self, filename: str, error: Exception) -> None:
        reason = f'{type(error).__name__}: {first_line(error)}'
        if self.test_mode:
            if self.skip_unreadable is False:
                advice = SKIP_HINT
            else:
                advice = ('it passed the skip_unreadable check but failed '
                          'while loading; add it to the list of unreadable '
                          'videos or remove it from the annotation list')
            raise UnreadableVideoError(
                f'Cannot read video {filename} ({reason}). The reported '
                f'accuracy must cover every listed video: {advice}.'
            ) from error
        print_log(
            f'Unreadable video {filename} ({reason}); it is replaced by '
            'another sample', logger='current', level=logging.WARNING)
        self._replaced.append(filename)
        return None

    def __getitem__(self, idx: int) -> Any:
        if self.test_mode:
            return super().__getitem__(idx)
        self._replaced = []
        try:
            data = super().__getitem__(idx)
        except Exception as error:
            if len(self._replaced) > self.max_refetch:
                raise UnreadableVideoError(
                    f'{len(self._replaced)} videos in a row could not be read '
                    f'(max_refetch={self.max_refetch}): ' +
                    ', '.join(self._replaced) + '. Check the data with '
                    'tools/data/kinetics/check_videos.py') from error
            raise
        if self._replaced:
            self._record_replaced(data)
        return data

    def _record_replaced(self, data: Any) -> None:
        """Record the replaced videos in the metainfo of the returned
        sample (the first one, when an item is a list of clips, so that
        each read is counted once)."""
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        samples = data.get('data_samples') if isinstance(data,
                                                        dict) else None
        if samples is not None and hasattr(samples, 'set_metainfo'):
            samples.set_metainfo(
                {UNREADABLE_VIDEOS_KEY: tuple(self._replaced)})
