"""Synthetic Motion: a built-in video dataset whose classes only time can tell.

Every clip shows a textured background (a random base colour, a smooth
colour field and mid-scale texture) and a few shapes of random shape,
colour, size and orientation at uniformly random positions. Some of them
(two to four) move together, the others (one to three, the clutter) stand
still. The class is how the moving shapes move: to the right, left, down or
up (the default four classes), or, in a harder variant, turning clockwise
or anticlockwise (as seen on screen).

Any single frame has the same distribution in every class:

* positions live on a torus (a shape leaving one side re-enters on the
  other), so positions are uniform in every frame of every class;
* orientations are uniform in every frame, whether the shape turns or not;
* moving shapes and clutter come from the same appearance distribution, so
  a single frame does not even say which shapes move.

Only the change between frames reveals the class. Generation is
deterministic: clip ``i`` of split ``s`` is rendered from the random stream
``(seed, s, i)`` alone, so the same seed always writes the same files.

Written as MMAction2 expects (like ``tools/data/kinetics``)::

    <root>/videos_train/000000.mp4 ...   # mp4v clips, readable by decord
    <root>/videos_val/000000.mp4 ...
    <root>/videos_test/000000.mp4 ...
    <root>/synthetic_motion_train_list_videos.txt   # "000000.mp4 <label>"
    <root>/synthetic_motion_val_list_videos.txt
    <root>/synthetic_motion_test_list_videos.txt
    <root>/label_map_synthetic_motion.txt           # one class name a line
    <root>/meta.json                                # generation settings
"""
import json
import math
import os
import os.path as osp
from multiprocessing import get_context
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..utils.video_io import write_lines, write_video

#: Class names and their motion: ``(kind, dx, dy)`` for translations (unit
#: direction in image coordinates, y pointing down) or ``(kind, sense)`` for
#: rotations (+1 clockwise on screen).
MOTIONS: Dict[str, tuple] = {
    'right': ('translate', 1., 0.),
    'left': ('translate', -1., 0.),
    'down': ('translate', 0., 1.),
    'up': ('translate', 0., -1.),
    'clockwise': ('rotate', 1.),
    'anticlockwise': ('rotate', -1.),
}

#: The default class list (order = label index): the four directions.
#: The rotation classes make a harder variant (``classes=tuple(MOTIONS)``).
DEFAULT_CLASSES: Tuple[str, ...] = ('right', 'left', 'down', 'up')

#: Split names and their stream ids (part of each clip's random stream).
SPLITS = {'train': 0, 'val': 1, 'test': 2}

#: Shapes without rotational symmetry (polygon vertices in a unit box
#: centred on the origin), so that rotation is visible.
SHAPES: Dict[str, np.ndarray] = {
    'triangle': np.array([[0., -.5], [.35, .5], [-.35, .5]]),
    'ell': np.array([[-.4, -.5], [-.1, -.5], [-.1, .2], [.4, .2], [.4, .5],
                     [-.4, .5]]),
    'tee': np.array([[-.5, -.5], [.5, -.5], [.5, -.2], [.15, -.2],
                     [.15, .5], [-.15, .5], [-.15, -.2], [-.5, -.2]]),
    'flag': np.array([[-.4, -.5], [.45, -.2], [-.1, .05], [-.1, .5],
                      [-.4, .5]]),
}

#: File names inside the dataset root.
LABEL_MAP = 'label_map_synthetic_motion.txt'
META_FILE = 'meta.json'


def ann_file_name(split: str) -> str:
    """The annotation list of a split, e.g.
    ``synthetic_motion_train_list_videos.txt``."""
    return f'synthetic_motion_{split}_list_videos.txt'


def _check_classes(classes: Sequence[str]) -> Tuple[str, ...]:
    classes = tuple(classes)
    unknown = [name for name in classes if name not in MOTIONS]
    if unknown or not classes:
        raise ValueError(f'Unknown synthetic motion classes {unknown}; '
                         f'choose a non-empty subset of {list(MOTIONS)}')
    if len(set(classes)) != len(classes):
        raise ValueError(f'Duplicate synthetic motion classes in {classes}')
    return classes


class SyntheticMotionRenderer:
    """Renders the clips of Synthetic Motion as uint8 RGB arrays.

    Args:
        num_frames (int): Frames per clip. Defaults to 16.
        size (int): Frame height and width in pixels. Defaults to 64.
        classes (Sequence[str]): Class names (keys of :data:`MOTIONS`), in
            label order. Defaults to :data:`DEFAULT_CLASSES`.
        num_moving (tuple[int, int]): Range (inclusive) of moving shapes
            per clip; they all move the class's way. Defaults to (2, 4).
        num_clutter (tuple[int, int]): Range (inclusive) of static clutter
            shapes per clip. Defaults to (1, 3).
        object_size (tuple[float, float]): Range of shape sizes as a fraction
            of the frame. Defaults to (0.22, 0.3).
        speed (tuple[float, float]): Range of translation speeds, in frame
            fractions per frame. Defaults to (0.05, 0.07).
        angular_speed (tuple[float, float]): Range of rotation speeds in
            degrees per frame. Defaults to (15, 25).
        colour_variation (float): Std of the background's smooth colour
            field around its random base colour. Defaults to 25.
        texture (float): Std of the background's mid-scale texture (8-pixel
            cells at 64x64). Defaults to 12.
        grain (float): Std of the background's static pixel grain.
            Defaults to 0.
        edge_width (int): Outline width of the shapes. Defaults to 2.
        noise (float): Std of the per-frame pixel noise. Defaults to 0.
    """

    def __init__(self,
                 num_frames: int = 16,
                 size: int = 64,
                 classes: Sequence[str] = DEFAULT_CLASSES,
                 num_moving: Tuple[int, int] = (2, 4),
                 num_clutter: Tuple[int, int] = (1, 3),
                 object_size: Tuple[float, float] = (0.22, 0.3),
                 speed: Tuple[float, float] = (0.05, 0.07),
                 angular_speed: Tuple[float, float] = (15., 25.),
                 colour_variation: float = 25.,
                 texture: float = 12.,
                 grain: float = 0.,
                 edge_width: int = 2,
                 noise: float = 0.) -> None:
        if num_frames < 2:
            raise ValueError(f'num_frames must be >= 2 (motion needs two '
                             f'frames), got {num_frames}')
        if size < 16 or size % 4:
            raise ValueError(f'size must be a multiple of 4 and >= 16, got '
                             f'{size}')
        self.num_frames = num_frames
        self.size = size
        self.classes = _check_classes(classes)
        self.num_moving = tuple(num_moving)
        self.num_clutter = tuple(num_clutter)
        self.object_size = tuple(object_size)
        self.speed = tuple(speed)
        self.angular_speed = tuple(angular_speed)
        self.colour_variation = colour_variation
        self.texture = texture
        self.grain = grain
        self.edge_width = edge_width
        self.noise = noise

    # ------------------------------------------------------------ settings
    def settings(self) -> dict:
        """Everything that determines the rendered pixels (for meta.json)."""
        return dict(
            num_frames=self.num_frames,
            size=self.size,
            classes=list(self.classes),
            num_moving=list(self.num_moving),
            num_clutter=list(self.num_clutter),
            object_size=list(self.object_size),
            speed=list(self.speed),
            angular_speed=list(self.angular_speed),
            colour_variation=self.colour_variation,
            texture=self.texture,
            grain=self.grain,
            edge_width=self.edge_width,
            noise=self.noise)

    # ------------------------------------------------------------- drawing
    def _background(self, rng: np.random.Generator) -> np.ndarray:
        """A random base colour, a smooth colour field around it,
        mid-scale texture and (optionally) pixel grain."""
        size = self.size
        base = rng.uniform(0, 255, 3).astype(np.float32)
        coarse = rng.normal(0, self.colour_variation,
                            (4, 4, 3)).astype(np.float32)
        image = base + cv2.resize(coarse, (size, size),
                                  interpolation=cv2.INTER_CUBIC)
        cells = max(size // 8, 2)
        mid = rng.normal(0, self.texture, (cells, cells, 3)).astype(np.float32)
        image += cv2.resize(mid, (size, size), interpolation=cv2.INTER_LINEAR)
        if self.grain:
            image += rng.normal(0, self.grain,
                                (size, size, 3)).astype(np.float32)
        return image

    def _random_object(self, rng: np.random.Generator) -> dict:
        """Shape, size, colours and a uniform pose on the torus."""
        shape = list(SHAPES)[rng.integers(len(SHAPES))]
        return dict(
            shape=shape,
            scale=rng.uniform(*self.object_size) * self.size,
            fill=rng.uniform(0, 255, 3),
            edge=rng.uniform(0, 255, 3),
            position=rng.uniform(0, self.size, 2),
            angle=rng.uniform(0, 2 * math.pi))

    def _draw(self, canvas: np.ndarray, obj: dict, position: np.ndarray,
              angle: float) -> None:
        """Draw a shape at ``position`` (wrapped on the torus), in place."""
        cos, sin = math.cos(angle), math.sin(angle)
        # image coordinates have y down: this matrix turns clockwise on screen
        rotation = np.array([[cos, -sin], [sin, cos]])
        points = SHAPES[obj['shape']] * obj['scale'] @ rotation.T + position
        size = self.size
        radius = obj['scale']
        for dx in (-size, 0, size):
            for dy in (-size, 0, size):
                centre = position + (dx, dy)
                if np.any(centre < -radius) or np.any(centre > size + radius):
                    continue
                fixed = np.round((points + (dx, dy)) * 16).astype(np.int32)
                cv2.fillPoly(canvas, [fixed], obj['fill'].tolist(),
                             cv2.LINE_AA, shift=4)
                cv2.polylines(canvas, [fixed], True, obj['edge'].tolist(),
                              self.edge_width, cv2.LINE_AA, shift=4)

    # -------------------------------------------------------------- render
    def trajectory(self, obj: dict, label: int,
                   rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        """Positions ``(T, 2)`` (pixels, wrapped) and angles ``(T,)`` of a
        moving shape of class ``label``.

        The pose is uniform at the middle frame and the motion constant, so
        the pose is uniform (on the torus / the circle) in *every* frame.
        """
        steps = np.arange(self.num_frames) - (self.num_frames - 1) / 2
        motion = MOTIONS[self.classes[label]]
        positions = np.repeat(obj['position'][None], self.num_frames, 0)
        angles = np.full(self.num_frames, obj['angle'])
        if motion[0] == 'translate':
            speed = rng.uniform(*self.speed) * self.size
            velocity = np.array(motion[1:]) * speed
            positions = positions + steps[:, None] * velocity
        else:
            speed = math.radians(rng.uniform(*self.angular_speed))
            angles = angles + steps * speed * motion[1]
        return np.mod(positions, self.size), np.mod(angles, 2 * math.pi)

    def render(self, label: int,
               rng: np.random.Generator) -> Tuple[np.ndarray, dict]:
        """One clip of class ``label``: ``(T, size, size, 3)`` uint8 RGB
        frames and the moving objects' ``positions`` ``(K, T, 2)`` (pixels,
        x then y) and ``angles`` ``(K, T)`` (radians, clockwise on
        screen)."""
        if not 0 <= label < len(self.classes):
            raise ValueError(f'label {label} is out of range for '
                             f'{len(self.classes)} classes')
        background = self._background(rng)
        clutter = [
            self._random_object(rng)
            for _ in range(rng.integers(self.num_clutter[0],
                                        self.num_clutter[1] + 1))
        ]
        for obj in clutter:
            self._draw(background, obj, obj['position'], obj['angle'])
        movers = [
            self._random_object(rng)
            for _ in range(rng.integers(self.num_moving[0],
                                        self.num_moving[1] + 1))
        ]
        paths = [self.trajectory(obj, label, rng) for obj in movers]
        frames = np.empty((self.num_frames, self.size, self.size, 3),
                          np.uint8)
        for index in range(self.num_frames):
            canvas = background.copy()
            for obj, (positions, angles) in zip(movers, paths):
                self._draw(canvas, obj, positions[index], angles[index])
            if self.noise:
                canvas += rng.normal(0, self.noise, canvas.shape).astype(
                    np.float32)
            frames[index] = np.clip(np.rint(canvas), 0, 255)
        return frames, dict(
            positions=np.stack([path[0] for path in paths]),
            angles=np.stack([path[1] for path in paths]))

    def clip_rng(self, seed: int, split: str,
                 index: int) -> np.random.Generator:
        """The random stream of clip ``index`` of ``split``."""
        if split not in SPLITS:
            raise ValueError(f'Unknown split {split!r}; use {list(SPLITS)}')
        return np.random.default_rng([seed, SPLITS[split], index])

    def clip(self, seed: int, split: str,
             index: int) -> Tuple[np.ndarray, int, dict]:
        """Frames, label and target trajectory of one clip (labels cycle
        through the classes, so every split is balanced)."""
        label = index % len(self.classes)
        frames, info = self.render(label, self.clip_rng(seed, split, index))
        return frames, label, info


def _write_clips(task: tuple) -> List[str]:
    renderer, seed, split, indices, video_dir, fps = task
    lines = []
    for index in indices:
        frames, label, _ = renderer.clip(seed, split, index)
        name = f'{index:06d}.mp4'
        write_video(osp.join(video_dir, name), frames, fps=fps)
        lines.append(f'{name} {label}')
    return lines


def dataset_paths(root: str) -> dict:
    """Where the files of a Synthetic Motion dataset under ``root`` go:
    ``root``, ``label_map``, and ``ann_files`` / ``video_dirs`` per split."""
    return dict(
        root=root,
        label_map=osp.join(root, LABEL_MAP),
        ann_files={s: osp.join(root, ann_file_name(s)) for s in SPLITS},
        video_dirs={s: osp.join(root, f'videos_{s}') for s in SPLITS})


def _write_split(renderer: SyntheticMotionRenderer, seed: int, split: str,
                 count: int, video_dir: str, fps: float,
                 num_workers: int) -> List[str]:
    """Render and encode the clips of one split (chunks of 64 clips over
    ``num_workers`` processes); returns its annotation lines."""
    os.makedirs(video_dir, exist_ok=True)
    for name in os.listdir(video_dir):  # stale clips of another run
        if name.endswith('.mp4'):
            os.remove(osp.join(video_dir, name))
    tasks = [(renderer, seed, split,
              list(range(start, min(start + 64, count))), video_dir, fps)
             for start in range(0, count, 64)]
    if num_workers > 1 and len(tasks) > 1:
        with get_context('fork').Pool(num_workers) as pool:
            results = pool.map(_write_clips, tasks)
    else:
        results = [_write_clips(task) for task in tasks]
    return [line for lines in results for line in lines]


def generate_synthetic_motion(root: str,
                              num_train: int = 2000,
                              num_val: int = 240,
                              num_test: int = 240,
                              seed: int = 0,
                              num_workers: int = 1,
                              fps: float = 8.,
                              overwrite: bool = False,
                              **renderer_kwargs) -> dict:
    """Write Synthetic Motion under ``root`` (see the module docstring).

    When ``root`` already holds a complete dataset made with the same
    settings, nothing is written (``overwrite=True`` forces it).

    Args:
        root (str): Output directory.
        num_train (int): Training clips. Defaults to 2000.
        num_val (int): Validation clips. Defaults to 240.
        num_test (int): Test clips. Defaults to 240.
        seed (int): Random seed; the same seed writes the same files.
        num_workers (int): Processes that render and encode. Defaults to 1.
        fps (float): Frame rate stored in the mp4 files. Defaults to 8.
        overwrite (bool): Regenerate even if an identical dataset exists.
        **renderer_kwargs: Passed to :class:`SyntheticMotionRenderer`.

    Returns:
        dict: ``meta`` (the settings), ``generated`` (False if an existing
        dataset was reused) and the paths of :func:`dataset_paths`.
    """
    if min(num_train, num_val, num_test) < 0:
        raise ValueError('num_train, num_val and num_test must be >= 0, got '
                         f'{num_train}, {num_val} and {num_test}')
    renderer = SyntheticMotionRenderer(**renderer_kwargs)
    counts = dict(train=num_train, val=num_val, test=num_test)
    meta = dict(
        dataset='synthetic_motion', seed=seed, fps=fps, counts=counts,
        renderer=renderer.settings())
    paths = dataset_paths(root)
    if not overwrite and is_complete(root, meta):
        return dict(meta=meta, generated=False, **paths)

    meta_path = osp.join(root, META_FILE)
    if osp.exists(meta_path):
        os.remove(meta_path)  # incomplete until the new meta is written
    write_lines(paths['label_map'], renderer.classes)
    for split, count in counts.items():
        lines = _write_split(renderer, seed, split, count,
                             paths['video_dirs'][split], fps, num_workers)
        write_lines(paths['ann_files'][split], lines)
    with open(meta_path, 'w') as f:
        json.dump(meta, f, indent=2, sort_keys=True)
    return dict(meta=meta, generated=True, **paths)


def is_complete(root: str, meta: Optional[dict] = None) -> bool:
    """Whether ``root`` holds a finished Synthetic Motion dataset (made with
    ``meta`` when given): meta file, label map, lists and every clip."""
    meta_path = osp.join(root, META_FILE)
    if not osp.isfile(meta_path):
        return False
    with open(meta_path) as f:
        found = json.load(f)
    if meta is not None and found != json.loads(json.dumps(meta)):
        return False
    if not osp.isfile(osp.join(root, LABEL_MAP)):
        return False
    for split, count in found['counts'].items():
        ann_file = osp.join(root, ann_file_name(split))
        if not osp.isfile(ann_file):
            return False
        with open(ann_file) as f:
            names = [line.split()[0] for line in f if line.strip()]
        if len(names) != count or not all(
                osp.isfile(osp.join(root, f'videos_{split}', name))
                for name in names):
            return False
    return True
