"""Writing video files and text lists (datasets, tests and tools)."""
import os
import os.path as osp
from typing import List, Sequence

import cv2
import numpy as np

#: File name endings taken as videos (inference inputs, Kinetics clips).
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.webm', '.mov', '.m4v', '.mpg',
                    '.mpeg', '.wmv', '.flv', '.3gp')


def find_videos(folder: str,
                extensions: Sequence[str] = VIDEO_EXTENSIONS) -> List[str]:
    """The video files under ``folder`` (any depth, by file name ending,
    case-insensitive), as sorted paths joined to ``folder``."""
    endings = tuple(ext.lower() for ext in extensions)
    return sorted(
        osp.join(root, name) for root, _, names in os.walk(folder)
        for name in names if name.lower().endswith(endings))


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


def write_lines(path: str, lines: Sequence[str]) -> str:
    """Write text lines (newline-terminated), creating the folder."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.writelines(line + '\n' for line in lines)
    return path
