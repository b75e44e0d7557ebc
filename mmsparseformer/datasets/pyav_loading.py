"""A seeking PyAV decoder: the frames decord returns, for less CPU.

MMAction2's ``PyAVDecode`` (mode ``'accurate'``) decodes every frame from
the start of the video up to the last sampled one; ``DecordDecode`` seeks,
but spends a large share of a clip's CPU time converting frames to RGB.
:class:`PyAVSeekInit` / :class:`PyAVSeekDecode` index the packets once (as
decord does), seek to the keyframe before each run of sampled frames,
decode forward and convert only the sampled frames to RGB with one cached
colour converter. The frames are those of ``DecordDecode`` at the same
indices (FFmpeg decodes both; equal bit for bit in the tests).

Use them as a pair in place of ``DecordInit`` / ``DecordDecode``::

    dict(type='PyAVSeekInit'),
    dict(type='SampleFrames', clip_len=32, frame_interval=2, num_clips=1),
    dict(type='PyAVSeekDecode'),
"""
import bisect
import io
import os.path as osp
from typing import Dict, List, Sequence, Set, Tuple

import av
import numpy as np
from mmengine.fileio import get

from mmaction.datasets.transforms.loading import PyAVDecode, PyAVInit
from mmaction.registry import TRANSFORMS


class IndexedVideo:
    """An open PyAV container with the presentation time of every frame.

    Frame ``i`` is the ``i``-th frame in presentation order (decord's
    numbering); keyframes are known, so a read seeks only when decoding
    forward would cost more than decoding from the keyframe before.
    """

    def __init__(self, source, name: str, num_threads: int = 1) -> None:
        self.name = name
        self.container = av.open(source)
        try:
            stamps = self._index(num_threads)
        except Exception:
            self.close()
            raise
        self.pts = [pts for pts, _ in stamps]
        self.index = {pts: i for i, pts in enumerate(self.pts)}
        self.keyframes = [i for i, (_, key) in enumerate(stamps) if key] \
            or [0]
        self.fps = float(self.stream.average_rate or 0)
        self.reformatter = av.video.reformatter.VideoReformatter()

    def _index(self, num_threads: int) -> List[Tuple[int, bool]]:
        """``(pts, is keyframe)`` of every frame, in presentation order."""
        if not self.container.streams.video:
            raise ValueError(f'{self.name} has no video stream')
        self.stream = self.container.streams.video[0]
        self.stream.codec_context.thread_count = max(1, num_threads)
        if num_threads > 1:
            self.stream.thread_type = 'AUTO'
        return sorted((packet.pts, packet.is_keyframe)
                      for packet in self.container.demux(self.stream)
                      if packet.size and packet.pts is not None)

    def __len__(self) -> int:
        return len(self.pts)

    def keyframe_before(self, index: int) -> int:
        return self.keyframes[max(0,
                                  bisect.bisect_right(self.keyframes, index)
                                  - 1)]

    def read(self, indices: Sequence[int]) -> Dict[int, np.ndarray]:
        """RGB frames ``{index: (H, W, 3) uint8}`` of the given indices."""
        wanted = sorted({int(i) for i in indices})
        if wanted and (wanted[0] < 0 or wanted[-1] >= len(self)):
            raise IndexError(f'frames {wanted[0]}..{wanted[-1]} asked of '
                             f'{self.name}, which has {len(self)}')
        found: Dict[int, np.ndarray] = {}
        wanted_set = set(wanted)
        frames, position = None, -1
        for target in wanted:
            if target in found:
                continue
            keyframe = self.keyframe_before(target)
            if frames is None or position >= target or \
                    position < keyframe - 1:
                self.container.seek(
                    self.pts[keyframe], stream=self.stream, backward=True)
                frames = self.container.decode(self.stream)
            position = self._decode_until(frames, target, wanted_set, found)
        return found

    def _decode_until(self, frames, target: int, wanted: Set[int],
                      found: Dict[int, np.ndarray]) -> int:
        """Decode forward to ``target``, keeping the wanted frames met."""
        for frame in frames:
            index = self.index.get(frame.pts)
            if index is None:
                continue
            if index in wanted and index not in found:
                found[index] = self.reformatter.reformat(
                    frame, format='rgb24').to_ndarray()
            if index >= target:
                return index
        raise ValueError(f'{self.name} ended before frame {target} of '
                         f'{len(self)} could be decoded')

    def close(self) -> None:
        self.container.close()


@TRANSFORMS.register_module()
class PyAVSeekInit(PyAVInit):
    """Open a video with PyAV and index its frames (as ``DecordInit``).

    Added keys: ``video_reader`` (an :class:`IndexedVideo`),
    ``total_frames`` (decord's count: frames with a presentation time),
    ``avg_fps``.

    Args:
        io_backend (str): ``'disk'`` opens local files directly; other
            backends read the file through mmengine's ``fileio.get``.
        num_threads (int): Decoder threads. One, as ``DecordInit``: a
            loader worker is one process per core.
        **kwargs: Backend arguments of ``fileio.get``.
    """

    def __init__(self,
                 io_backend: str = 'disk',
                 num_threads: int = 1,
                 **kwargs) -> None:
        super().__init__(io_backend=io_backend, **kwargs)
        self.num_threads = num_threads

    def transform(self, results: dict) -> dict:
        filename = results['filename']
        if osp.splitext(filename)[0] == filename:
            filename += '.mp4'  # as DecordInit
        if self.io_backend == 'disk':
            if not osp.isfile(filename):
                raise FileNotFoundError(f'Video not found: {filename}')
            source = filename
        else:
            source = io.BytesIO(
                get(filename, backend_args=dict(backend=self.io_backend,
                                                **self.kwargs)))
        video = IndexedVideo(source, filename, self.num_threads)
        results['video_reader'] = video
        results['total_frames'] = len(video)
        results['avg_fps'] = video.fps
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(io_backend={self.io_backend}, '
                f'num_threads={self.num_threads})')


@TRANSFORMS.register_module()
class PyAVSeekDecode(PyAVDecode):
    """Decode the sampled frames of a :class:`PyAVSeekInit` video.

    Required keys: ``video_reader``, ``frame_inds``. Added keys: ``imgs``
    (one ``(H, W, 3)`` RGB array per index, views of one contiguous block
    as ``DecordDecode`` returns), ``original_shape``, ``img_shape``.
    """

    def __init__(self) -> None:
        super().__init__(multi_thread=False, mode='accurate')

    def transform(self, results: dict) -> dict:
        video = results['video_reader']
        if not isinstance(video, IndexedVideo):
            raise TypeError('PyAVSeekDecode needs PyAVSeekInit before it, '
                            f'got a {type(video).__name__} video_reader')
        indices = np.asarray(results['frame_inds']).reshape(-1)
        try:
            found = video.read(indices)
        finally:
            video.close()
        # one contiguous block, as decord returns: every index (a repeated
        # one too) gets its own frame, and later transforms run on memory
        # laid out as with DecordDecode
        first = found[int(indices[0])]
        block = np.empty((len(indices), ) + first.shape, first.dtype)
        for slot, index in enumerate(indices.tolist()):
            block[slot] = found[index]
        imgs = list(block)
        results['frame_inds'] = indices
        results['imgs'] = imgs
        results['original_shape'] = imgs[0].shape[:2]
        results['img_shape'] = imgs[0].shape[:2]
        results['video_reader'] = None
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'
