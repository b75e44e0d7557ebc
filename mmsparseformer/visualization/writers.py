"""Writing rendered frames: animated GIF (Pillow), MP4 (OpenCV ``mp4v``)
and PNG (Pillow)."""
import os
import os.path as osp

import cv2
import numpy as np
from PIL import Image

__all__ = ['ANIMATION_FORMATS', 'write_animation', 'write_png']

ANIMATION_FORMATS = ('.gif', '.mp4')


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 \
            or len(frames) == 0:
        raise ValueError('frames must be a non-empty uint8 array of shape '
                         f'(T, H, W, 3), got {frames.dtype} {frames.shape}')
    return frames


def write_animation(path: str, frames: np.ndarray, fps: float = 4.) -> str:
    """Write ``(T, H, W, 3)`` RGB frames as ``.gif`` or ``.mp4`` (by the
    suffix), one output frame per input frame."""
    frames = _check_frames(frames)
    if fps <= 0:
        raise ValueError(f'fps must be > 0, got {fps}')
    suffix = osp.splitext(path)[1].lower()
    if suffix not in ANIMATION_FORMATS:
        raise ValueError(f'Cannot write an animation to {path}: the suffix '
                         f'must be one of {ANIMATION_FORMATS}')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if suffix == '.gif':
        images = [Image.fromarray(frame) for frame in frames]
        # one palette per frame; disposal 1 keeps frames whole
        images[0].save(path, save_all=True, append_images=images[1:],
                       duration=max(20, int(round(1000. / fps))), loop=0,
                       disposal=1, optimize=False)
        return path
    height, width = frames.shape[1:3]
    # mp4v wants even sizes: pad by one background row / column if needed
    pad_h, pad_w = height % 2, width % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (width + pad_w, height + pad_h))
    if not writer.isOpened():
        raise OSError(f'OpenCV cannot open an mp4v video writer for {path}')
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def write_png(path: str, image: np.ndarray) -> str:
    """Write an ``(H, W, 3)`` uint8 RGB image as PNG."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError('image must be uint8 of shape (H, W, 3), got '
                         f'{image.dtype} {image.shape}')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    Image.fromarray(image).save(path, format='PNG')
    return path
