"""H.264 writing, probing and decode-cost helpers built on PyAV.

PyAV (``av`` on PyPI) bundles FFmpeg with libx264, so videos can be written,
re-encoded and inspected without a system ``ffmpeg``. Used by the re-encoder
(:mod:`mmsparseformer.datasets.reencode`), the data-throughput tool and the
tests, which need real H.264 files with a known keyframe interval.
"""
import io
import os
import os.path as osp
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Iterator, List, Optional

import av
import cv2
import decord
import numpy as np


@dataclass
class VideoInfo:
    """What PyAV reads back from a video file."""
    path: str
    frames: int
    fps: float
    duration_s: float
    width: int
    height: int
    codec: str
    size_bytes: int
    #: display-order indices of the keyframes
    keyframes: List[int] = field(default_factory=list)

    @property
    def short_side(self) -> int:
        return min(self.width, self.height)

    @property
    def keyframe_interval(self) -> int:
        """The largest distance between two keyframes (or to the end)."""
        marks = list(self.keyframes) + [self.frames]
        return max(b - a for a, b in zip(marks[:-1], marks[1:])) \
            if self.keyframes else self.frames


def open_video(path: str):
    """Open a video with PyAV; a missing or unreadable file is an error
    naming it."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Video not found: {path}')
    try:
        container = av.open(path)
    except av.FFmpegError as error:
        raise ValueError(f'Cannot open video {path}: {error}') from error
    if not container.streams.video:
        container.close()
        raise ValueError(f'{path} has no video stream')
    return container


def probe_video(path: str, decode: bool = False) -> VideoInfo:
    """Frame count, rate, duration, size and keyframes of a video.

    Reads packets only (fast) unless ``decode``, which counts the frames
    that actually decode.
    """
    container = open_video(path)
    try:
        stream = container.streams.video[0]
        stamps = []  # (pts, is_keyframe) per packet with a picture
        decoded = 0
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None:
                stamps.append((packet.pts, packet.is_keyframe))
            if decode:
                decoded += len(packet.decode())
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        duration = float(stream.duration * stream.time_base) \
            if stream.duration else (container.duration or 0) / 1e6
        codec = stream.codec_context.name
        width, height = stream.codec_context.width, stream.codec_context.height
    except av.FFmpegError as error:
        raise ValueError(f'Cannot read video {path}: {error}') from error
    finally:
        container.close()
    stamps.sort()
    return VideoInfo(
        path=path,
        frames=decoded if decode else len(stamps),
        fps=float(rate),
        duration_s=duration,
        width=width,
        height=height,
        codec=codec,
        size_bytes=osp.getsize(path),
        keyframes=[i for i, (_, key) in enumerate(stamps) if key])


def h264_options(gop: int,
                 crf: float = 23,
                 preset: str = 'medium',
                 tune: Optional[str] = None,
                 threads: int = 1) -> dict:
    """libx264 options: a keyframe exactly every ``gop`` frames (no
    scene-cut keyframes), constant quality ``crf``."""
    if gop < 1:
        raise ValueError(f'the keyframe interval must be >= 1, got {gop}')
    options = {
        'crf': f'{crf:g}',
        'preset': preset,
        'threads': str(threads),
        'x264-params': f'keyint={gop}:min-keyint={gop}:scenecut=0',
    }
    if tune:
        options['tune'] = tune
    return options


def write_h264(path: str,
               frames: Iterable[np.ndarray],
               fps: float,
               gop: int,
               crf: float = 23,
               preset: str = 'medium',
               tune: Optional[str] = None,
               threads: int = 1) -> str:
    """Write ``(H, W, 3)`` uint8 RGB frames as an H.264 (yuv420p) mp4 file
    at a constant ``fps`` with a keyframe every ``gop`` frames."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with av.open(path, mode='w', format='mp4') as container:
        stream = None
        for frame in frames:
            if stream is None:
                stream = add_h264_stream(container, frame.shape[1],
                                         frame.shape[0], fps,
                                         h264_options(gop, crf, preset, tune,
                                                      threads))
            picture = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(frame), format='rgb24')
            container.mux(stream.encode(picture))
        if stream is None:
            raise ValueError(f'no frames to write to {path}')
        container.mux(stream.encode(None))
    return path


def add_h264_stream(container, width: int, height: int, fps: float,
                    options: dict):
    """An H.264 output stream; width and height must be even (yuv420p)."""
    if width % 2 or height % 2:
        raise ValueError(f'H.264 (yuv420p) needs even sizes, got '
                         f'{width}x{height}')
    stream = container.add_stream(
        'libx264', rate=Fraction(fps).limit_denominator(1001))
    stream.width, stream.height = width, height
    stream.pix_fmt = 'yuv420p'
    stream.options = options
    return stream


def synthetic_frames(width: int,
                     height: int,
                     num_frames: int,
                     seed: int = 0,
                     noise: float = 3.) -> Iterator[np.ndarray]:
    """Camera-like RGB frames: a textured scene under a slowly panning,
    zooming and turning camera, moving discs and a little sensor noise, so
    that motion prediction is imperfect and the bit rate realistic."""
    rng = np.random.default_rng(seed)
    world_w, world_h = width * 2, height * 2
    colour = cv2.resize(rng.random((world_h // 64 + 2, world_w // 64 + 2,
                                    3)), (world_w, world_h),
                        interpolation=cv2.INTER_CUBIC)
    texture = cv2.resize(rng.random((world_h // 3 + 2, world_w // 3 + 2)),
                         (world_w, world_h),
                         interpolation=cv2.INTER_LINEAR)
    world = np.clip(colour * 170 + texture[..., None] * 80, 0,
                    255).astype(np.uint8)
    discs = [(rng.random(2), rng.normal(size=2) * 0.01,
              int(rng.integers(max(2, height // 20), max(3, height // 6))),
              tuple(int(c) for c in rng.integers(0, 256, 3)))
             for _ in range(3)]
    for t in range(num_frames):
        phase = 2 * np.pi * t / max(num_frames, 1)
        centre = (world_w / 2 + width / 3 * np.sin(phase),
                  world_h / 2 + height / 4 * np.sin(2 * phase))
        warp = cv2.getRotationMatrix2D(centre, 5 * np.sin(phase),
                                       1.2 + 0.15 * np.cos(phase))
        warp[:, 2] += (width / 2 - centre[0], height / 2 - centre[1])
        frame = cv2.warpAffine(world, warp, (width, height))
        for start, speed, radius, rgb in discs:
            cx, cy = (start + speed * t) % 1.
            cv2.circle(frame, (int(cx * width), int(cy * height)), radius,
                       rgb, -1)
        if noise:
            jitter = rng.normal(0, noise, frame.shape)
            frame = np.clip(frame + jitter, 0, 255).astype(np.uint8)
        yield frame


def make_h264_clip(path: str,
                   width: int,
                   height: int,
                   seconds: float = 10.,
                   fps: float = 30.,
                   gop: int = 250,
                   seed: int = 0,
                   preset: str = 'medium') -> str:
    """A synthetic H.264 clip (see :func:`synthetic_frames`)."""
    num_frames = int(round(seconds * fps))
    return write_h264(
        path,
        synthetic_frames(width, height, num_frames, seed),
        fps=fps,
        gop=gop,
        preset=preset)


def decode_cpu_ms_per_frame(path: str) -> float:
    """CPU milliseconds per frame of decoding a whole video with PyAV, one
    thread (this process only)."""
    container = open_video(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = 'SLICE'
        stream.codec_context.thread_count = 1
        start, frames = time.process_time(), 0
        for _ in container.decode(stream):
            frames += 1
    finally:
        container.close()
    return 1000 * (time.process_time() - start) / max(frames, 1)


def clip_decode_ms(path: str,
                   clip_len: int = 32,
                   frame_interval: int = 2,
                   clips: int = 4,
                   seed: int = 0) -> float:
    """CPU milliseconds per training clip of decord, as MMAction2's
    ``DecordInit`` + ``DecordDecode`` decode it: the file read into memory,
    one thread, ``clip_len`` frames every ``frame_interval`` from random
    starts (the same starts for the same ``seed`` and frame count)."""
    rng = np.random.default_rng(seed)
    start_cpu = time.process_time()
    for _ in range(clips):
        with open(path, 'rb') as f:
            reader = decord.VideoReader(io.BytesIO(f.read()), num_threads=1)
        span = clip_len * frame_interval
        start = int(rng.integers(0, max(1, len(reader) - span + 1)))
        inds = [min(i, len(reader) - 1)
                for i in range(start, start + span, frame_interval)]
        reader.get_batch(inds).asnumpy()
    return 1000 * (time.process_time() - start_cpu) / max(clips, 1)
