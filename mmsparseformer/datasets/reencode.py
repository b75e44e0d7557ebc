"""Re-encode a video dataset so that training clips decode cheaply.

A 32x2 training clip spans 64 frames. To decode it, a decoder seeks to the
keyframe before the clip and decodes every frame from there, at the
video's full size, then the pipeline resizes to a short side of 256. With
YouTube-style keyframe intervals (about 250 frames) and 720p sources most of
that work is thrown away. Re-encoding once to the training size (short side
256 or 320) with a keyframe every 32 frames (``x264 tune=fastdecode`` on
top makes each frame cheaper to decode) removes it.

The re-encoder works file by file in a process pool, writes each output to
a temporary name in the destination folder and renames it when it has been
read back (same frame count as the source), so an interrupted run leaves no
half-written video and a rerun skips the finished ones. It refuses a
destination that is, contains or lies inside the source folder. Frames keep
their count and order at the source's average frame rate; audio is dropped
(RGB pipelines never read it).
"""
import os
import os.path as osp
import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import List, Optional, Sequence, Tuple

import av
from av.video.frame import PictureType
from mmengine.utils import track_parallel_progress, track_progress

from ..utils.video_io import find_videos
from .video_codec import (VideoInfo, add_h264_stream, clip_decode_ms,
                          h264_options, open_video, probe_video)


@dataclass
class ReencodeOptions:
    """How videos are re-encoded."""
    short_side: int = 256  # never upscaled
    gop: int = 32  # keyframe interval in frames
    crf: float = 23.  # x264's default
    preset: str = 'medium'
    tune: Optional[str] = 'fastdecode'
    threads: int = 1  # encoder threads per process


@dataclass
class ReencodeResult:
    """What happened to one video."""
    src: str
    dst: str
    status: str  # 'encoded', 'skipped' (already finished) or 'failed'
    error: str = ''
    frames: int = 0
    src_bytes: int = 0
    dst_bytes: int = 0
    src_size: Tuple[int, int] = (0, 0)
    dst_size: Tuple[int, int] = (0, 0)
    src_keyframe_interval: int = 0
    dst_keyframe_interval: int = 0
    #: CPU ms per frame of a sequential decode (PyAV, one thread); the
    #: source's is measured while re-encoding, so not for skipped files
    src_decode_ms: float = 0.
    dst_decode_ms: float = 0.
    seconds: float = 0.

    def to_dict(self) -> dict:
        return asdict(self)


def target_size(width: int, height: int, short_side: int) -> Tuple[int, int]:
    """The size with the short side ``short_side`` (never larger than the
    source), aspect ratio kept, both sides even (yuv420p)."""
    scale = min(1., short_side / min(width, height))

    def even(x: float) -> int:
        return max(2, int(round(x / 2)) * 2)

    return even(width * scale), even(height * scale)


# ------------------------------------------------------------------ checks
def check_roots(src_root: str, dst_root: str) -> None:
    """Refuse a missing source and a destination that could overwrite or be
    read back as the source."""
    if not osp.isdir(src_root):
        raise FileNotFoundError(f'Source folder not found: {src_root}')
    src, dst = osp.realpath(src_root), osp.realpath(dst_root)
    if src == dst:
        raise ValueError(f'The destination {dst_root} is the source folder: '
                         'the re-encoder never writes over its input')
    if dst.startswith(src + os.sep):
        raise ValueError(f'The destination {dst_root} lies inside the source '
                         f'{src_root}: its outputs would be taken as sources')
    if src.startswith(dst + os.sep):
        raise ValueError(f'The source {src_root} lies inside the destination '
                         f'{dst_root}: outputs could overwrite sources')


def plan_jobs(src_root: str,
              dst_root: str,
              names: Optional[Sequence[str]] = None) -> List[Tuple[str, str]]:
    """``(source, destination)`` pairs: every video under ``src_root`` (or
    the given relative ``names``), mirrored under ``dst_root`` as ``.mp4``.
    """
    check_roots(src_root, dst_root)
    if names is None:
        names = [osp.relpath(path, src_root)
                 for path in find_videos(src_root)]
    jobs, taken = [], {}
    for name in names:
        src = osp.join(src_root, name)
        if not osp.isfile(src):
            raise FileNotFoundError(f'Source video not found: {src}')
        dst = osp.join(dst_root, osp.splitext(name)[0] + '.mp4')
        if osp.realpath(dst) == osp.realpath(src):
            raise ValueError(f'{dst} would overwrite its source {src}')
        if dst in taken:
            raise ValueError(f'{taken[dst]} and {src} would both be '
                             f'written to {dst}')
        taken[dst] = src
        jobs.append((src, dst))
    return jobs


def is_finished(src_info: VideoInfo, dst: str,
                options: ReencodeOptions) -> bool:
    """Whether ``dst`` is a finished re-encode of the source: same frame
    count, the requested size and keyframe interval (packets only)."""
    if not osp.isfile(dst):
        return False
    try:
        info = probe_video(dst)
    except (ValueError, FileNotFoundError):
        return False
    expected = target_size(src_info.width, src_info.height,
                           options.short_side)
    return info.frames == src_info.frames and \
        (info.width, info.height) == expected and \
        info.keyframe_interval <= options.gop


# ---------------------------------------------------------------- encoding
def transcode(src: str, tmp: str, options: ReencodeOptions) -> Tuple[
        int, float, Tuple[int, int]]:
    """Decode ``src`` and write it resized to ``tmp``. Returns the frames
    written, the CPU seconds spent decoding and the output size."""
    source = open_video(src)
    try:
        stream = source.streams.video[0]
        stream.codec_context.thread_count = 1
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        size = target_size(stream.codec_context.width,
                           stream.codec_context.height, options.short_side)
        with av.open(tmp, mode='w', format='mp4') as out:
            encoder = add_h264_stream(
                out, *size, rate,
                h264_options(options.gop, options.crf, options.preset,
                             options.tune, options.threads))
            frames, decode_s = 0, 0.
            decoded = source.decode(stream)
            while True:
                start = time.process_time()
                frame = next(decoded, None)
                decode_s += time.process_time() - start
                if frame is None:
                    break
                picture = frame.reformat(
                    *size, format='yuv420p', interpolation='BICUBIC')
                # constant rate: frame i at i / rate; the source's picture
                # types must not force keyframes
                picture.pts, picture.time_base = frames, 1 / rate
                picture.pict_type = PictureType.NONE
                out.mux(encoder.encode(picture))
                frames += 1
            out.mux(encoder.encode(None))
    except av.FFmpegError as error:
        raise ValueError(f'Cannot re-encode {src}: {error}') from error
    finally:
        source.close()
    return frames, decode_s, size


def reencode_video(src: str, dst: str,
                   options: ReencodeOptions) -> ReencodeResult:
    """Re-encode one video (skipped when already finished). Errors are
    returned, not raised, so that one bad file does not stop a dataset."""
    start = time.perf_counter()
    result = ReencodeResult(src, dst, 'failed')
    tmp = osp.join(osp.dirname(dst), f'.{osp.basename(dst)}.{os.getpid()}'
                   '.tmp.mp4')
    try:
        src_info = probe_video(src)
        result.src_bytes, result.src_size = src_info.size_bytes, (
            src_info.width, src_info.height)
        result.src_keyframe_interval = src_info.keyframe_interval
        if is_finished(src_info, dst, options):
            result.status = 'skipped'
        else:
            os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
            frames, decode_s, _ = transcode(src, tmp, options)
            result.src_decode_ms = 1000 * decode_s / max(frames, 1)
            verify_output(src, tmp, frames, result)
            os.replace(tmp, dst)
            result.status = 'encoded'
        dst_info = probe_video(dst)
        result.frames, result.dst_bytes = dst_info.frames, dst_info.size_bytes
        result.dst_size = (dst_info.width, dst_info.height)
        result.dst_keyframe_interval = dst_info.keyframe_interval
    except Exception as error:  # reported per file
        result.status, result.error = 'failed', f'{type(error).__name__}: ' \
            f'{error}'
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    result.seconds = time.perf_counter() - start
    return result


def verify_output(src: str, tmp: str, frames: int,
                  result: ReencodeResult) -> None:
    """Decode the new file completely: every frame must be there."""
    start = time.process_time()
    info = probe_video(tmp, decode=True)
    result.dst_decode_ms = 1000 * (time.process_time() - start) / max(
        info.frames, 1)
    if info.frames != frames or frames == 0:
        raise ValueError(f'the re-encode of {src} decodes to {info.frames} '
                         f'frames, the source to {frames}')


def _job(task: Tuple[str, str, ReencodeOptions]) -> ReencodeResult:
    return reencode_video(*task)


def reencode_videos(jobs: Sequence[Tuple[str, str]],
                    options: ReencodeOptions,
                    workers: int = 1) -> List[ReencodeResult]:
    """Run the jobs in ``workers`` processes, with a progress bar."""
    tasks = [(src, dst, options) for src, dst in jobs]
    if workers > 1 and len(tasks) > 1:
        return track_parallel_progress(_job, tasks, workers)
    return track_progress(_job, tasks)


# ----------------------------------------------------------------- summary
def _median(values: Sequence[float]) -> float:
    values = sorted(v for v in values if v)
    return values[len(values) // 2] if values else 0.


def measure_clip_decode(results: Sequence[ReencodeResult],
                        count: int = 4,
                        clips: int = 4) -> Tuple[float, float]:
    """Median decord CPU ms per 32x2 training clip of the first ``count``
    finished videos, source and re-encode (same clip starts)."""
    done = [r for r in results if r.status != 'failed'][:count]
    src = [clip_decode_ms(r.src, clips=clips, seed=i)
           for i, r in enumerate(done)]
    dst = [clip_decode_ms(r.dst, clips=clips, seed=i)
           for i, r in enumerate(done)]
    return _median(src), _median(dst)


def summary_rows(results: Sequence[ReencodeResult],
                 clip_ms: Optional[Tuple[float, float]] = None) -> List[
                     Tuple[str, str, str]]:
    """Before/after rows: disk size, short side, keyframe interval and
    decode cost of the videos that were not failures."""
    ok = [r for r in results if r.status != 'failed']
    encoded = [r for r in ok if r.status == 'encoded']
    rows = [('', 'source', 're-encoded'),
            ('disk MB', f'{sum(r.src_bytes for r in ok) / 1e6:.1f}',
             f'{sum(r.dst_bytes for r in ok) / 1e6:.1f}'),
            ('short side (median)',
             f'{_median([min(r.src_size) for r in ok]):.0f}',
             f'{_median([min(r.dst_size) for r in ok]):.0f}'),
            ('keyframe interval (max)',
             str(max((r.src_keyframe_interval for r in ok), default=0)),
             str(max((r.dst_keyframe_interval for r in ok), default=0)))]
    if encoded:
        rows.append(('decode CPU ms/frame, sequential (median)',
                     f'{_median([r.src_decode_ms for r in encoded]):.2f}',
                     f'{_median([r.dst_decode_ms for r in encoded]):.2f}'))
    if clip_ms:
        rows.append(('decord CPU ms per 32x2 clip (median)',
                     f'{clip_ms[0]:.1f}', f'{clip_ms[1]:.1f}'))
    return rows
