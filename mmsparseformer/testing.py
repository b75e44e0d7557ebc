"""Small helpers to write video files and annotation lists for tests."""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

#: A tiny VideoSparseFormer arch for tests (about 0.1 M parameters).
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


def write_video(path: str, frames: np.ndarray, fps: float = 10.) -> str:
    """Write ``(T, H, W, 3)`` uint8 RGB frames as an ``mp4v`` mp4 file."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError('frames must be uint8 of shape (T, H, W, 3), got '
                         f'{frames.dtype} {frames.shape}')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (width, height))
    if not writer.isOpened():
        raise OSError(f'OpenCV cannot open a video writer for {path}')
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


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


def write_lines(path: str, lines: Sequence[str]) -> str:
    """Write text lines (newline-terminated)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.writelines(line + '\n' for line in lines)
    return path
