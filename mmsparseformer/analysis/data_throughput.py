"""How fast a config's data pipelines feed its model.

For the train and test pipelines of an MMAction2 config, run on real video
files in this process as one dataloader worker would (one torch thread,
OpenCV threads as the config's ``env_cfg`` sets them), this module measures
the CPU milliseconds per clip, split per transform, and so the clips per
second that one worker (one CPU core) delivers. Set beside the model's
training clips/s on a device (measured by
:func:`mmsparseformer.analysis.benchmark.benchmark_model`, or given), it
says which side bounds training and how many loader workers per GPU would
balance it.

The datasets are built from the config itself (``train_dataloader.dataset``
and ``test_dataloader.dataset``, so dataset options such as repeated
augmentation are part of the measurement) over a temporary annotation list
of the given videos.
"""
import contextlib
import copy
import math
import os
import os.path as osp
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope

from mmaction.registry import DATASETS

from ..datasets.robust_video_dataset import is_loading_transform
from ..datasets.video_codec import make_h264_clip
from ..utils.video_io import VIDEO_EXTENSIONS, find_videos
from .benchmark import ModelResult, benchmark_model


@dataclass
class TransformCost:
    """CPU and wall time of one transform, per clip the pipeline made."""
    name: str
    calls: int
    cpu_ms: float
    wall_ms: float
    loading: bool  # reads or decodes the file


@dataclass
class PipelineCost:
    """The measured cost of one pipeline (through its dataset)."""
    split: str
    dataset: str
    items: int  # dataset items fetched (a video each)
    clips: int  # clips they made (a repeated-augmentation item makes several)
    views_per_clip: int  # e.g. 12 for 4 clips x 3 crops at test time
    cpu_ms: float  # per clip, all of the dataset item
    wall_ms: float
    transforms: List[TransformCost] = field(default_factory=list)

    @property
    def decode_cpu_ms(self) -> float:
        """CPU ms per clip of the file-reading transforms."""
        return sum(t.cpu_ms for t in self.transforms if t.loading)

    @property
    def other_cpu_ms(self) -> float:
        """CPU ms per clip outside the transforms (the dataset's own
        work: annotation lookup, copies of repeated clips)."""
        return max(0., self.cpu_ms - sum(t.cpu_ms for t in self.transforms))

    @property
    def clips_per_s_per_worker(self) -> float:
        """Clips per second of one worker that has a CPU core to itself."""
        return 1000. / self.cpu_ms if self.cpu_ms > 0 else math.inf

    def to_dict(self) -> dict:
        result = asdict(self)
        result.update(
            decode_cpu_ms=self.decode_cpu_ms,
            other_cpu_ms=self.other_cpu_ms,
            clips_per_s_per_worker=self.clips_per_s_per_worker)
        return result


@dataclass
class Verdict:
    """Which side bounds training, and the workers that balance it."""
    bound: str  # 'data loading' or 'the model'
    model_clips_per_s: float
    worker_clips_per_s: float
    config_workers: int
    workers_to_balance: int
    text: str


# ----------------------------------------------------------------- videos
def list_videos(source: str,
                root: Optional[str] = None,
                limit: Optional[int] = None) -> List[str]:
    """Video paths from a folder (searched recursively) or an annotation
    list (first field per line, relative to ``root`` when given)."""
    if osp.isdir(source):
        found = find_videos(source)
        if not found:
            kinds = ', '.join(VIDEO_EXTENSIONS)
            raise FileNotFoundError(f'No video files ({kinds}) under {source}')
    elif osp.isfile(source):
        with open(source) as f:
            names = [line.split()[0] for line in f if line.strip()]
        found = [osp.join(root, name) if root else name for name in names]
        missing = [path for path in found if not osp.isfile(path)]
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} videos of {source} are missing, e.g. '
                f'{missing[0]}' + ('' if root else ' (pass --video-root if '
                                   'the list is relative to a folder)'))
        if not found:
            raise ValueError(f'{source} lists no video')
    else:
        raise FileNotFoundError(f'No such folder or list: {source}')
    return found[:limit] if limit else found


def generate_videos(out_dir: str,
                    width: int,
                    height: int,
                    count: int = 4,
                    seconds: float = 10.,
                    fps: float = 30.,
                    gop: int = 250,
                    preset: str = 'medium') -> List[str]:
    """Synthetic H.264 clips (reused when already there with that name)."""
    paths = []
    for index in range(count):
        path = osp.join(out_dir, f'h264_{width}x{height}_{seconds:g}s_'
                        f'{fps:g}fps_g{gop}_{index}.mp4')
        if not osp.isfile(path):
            make_h264_clip(path + '.tmp.mp4', width, height, seconds, fps,
                           gop, seed=index, preset=preset)
            os.replace(path + '.tmp.mp4', path)
        paths.append(path)
    return paths


# ------------------------------------------------------------------ timing
class TransformTimer:
    """Times every call of each transform of a pipeline, in place: the
    instances keep their class (datasets inspect it), only their
    ``transform`` method is wrapped until :meth:`detach`."""

    def __init__(self, transforms: Sequence) -> None:
        self.transforms = list(transforms)
        self.reset()

    def reset(self) -> None:
        count = len(self.transforms)
        self.calls, self.cpu, self.wall = [0] * count, [0.] * count, \
            [0.] * count

    def attach(self) -> None:
        for index, transform in enumerate(self.transforms):
            if not hasattr(transform, 'transform'):
                raise TypeError(f'{transform!r} is not an mmcv transform: '
                                'it cannot be timed on its own')
            transform.transform = self._timed(index, transform.transform)

    def detach(self) -> None:
        for transform in self.transforms:
            transform.__dict__.pop('transform', None)

    def _timed(self, index: int, method):

        def timed(results):
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                return method(results)
            finally:
                self.cpu[index] += time.process_time() - cpu
                self.wall[index] += time.perf_counter() - wall
                self.calls[index] += 1

        return timed

    def costs(self, clips: int) -> List[TransformCost]:
        per_clip = 1000. / max(clips, 1)
        return [
            TransformCost(
                type(t).__name__, calls, cpu * per_clip, wall * per_clip,
                is_loading_transform(t)) for t, calls, cpu, wall in zip(
                    self.transforms, self.calls, self.cpu, self.wall)
        ]


@contextlib.contextmanager
def worker_threads(opencv_threads: int = 0) -> Iterator[None]:
    """Threads as in a dataloader worker: PyTorch gives each worker one
    thread; mmengine sets OpenCV's from ``env_cfg.mp_cfg``."""
    torch_threads, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(opencv_threads)
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv_threads)


def count_clips(item) -> Tuple[int, int]:
    """``(clips, views per clip)`` of a dataset item: a packed sample
    (``inputs`` of ``views x C x T x H x W``) or a list of them."""
    if item is None:
        return 0, 0
    items = item if isinstance(item, (list, tuple)) else [item]
    views = 1
    for sample in items:
        inputs = sample.get('inputs') if isinstance(sample, dict) else None
        if inputs is not None and getattr(inputs, 'ndim', 0) == 5:
            views = int(inputs.shape[0])
    return len(items), views


def measure_dataset(dataset,
                    split: str,
                    items: int,
                    warmup: int = 1,
                    opencv_threads: int = 0) -> PipelineCost:
    """Fetch ``items`` dataset items (after ``warmup`` untimed ones),
    cycling over the dataset, and time them per transform."""
    if len(dataset) == 0:
        raise ValueError(f'the {split} dataset has no videos')
    timer = TransformTimer(dataset.pipeline.transforms)
    clips = views = 0
    cpu = wall = 0.
    timer.attach()
    try:
        with worker_threads(opencv_threads):
            for step in range(warmup + items):
                if step == warmup:
                    timer.reset()
                start_cpu, start_wall = time.process_time(), \
                    time.perf_counter()
                made, views_now = count_clips(dataset[step % len(dataset)])
                if step >= warmup:
                    cpu += time.process_time() - start_cpu
                    wall += time.perf_counter() - start_wall
                    clips, views = clips + made, max(views, views_now)
    finally:
        timer.detach()
    if clips == 0:
        raise RuntimeError(f'the {split} dataset made no clip')
    return PipelineCost(split, type(dataset).__name__, items, clips, views,
                        1000. * cpu / clips, 1000. * wall / clips,
                        timer.costs(clips))


# ------------------------------------------------------------------ config
def dataset_cfg_for_videos(cfg: Config, split: str,
                           list_file: str) -> ConfigDict:
    """``<split>_dataloader.dataset`` of ``cfg`` reading ``list_file``
    (absolute paths) instead of its own list; wrappers (a ``dataset``
    inside a dataset) are followed."""
    key = f'{split}_dataloader'
    if key not in cfg:
        raise KeyError(f'the config has no {key}')
    dataset = copy.deepcopy(cfg[key]['dataset'])
    inner = dataset
    while 'dataset' in inner and 'ann_file' not in inner:
        inner = inner['dataset']
    if 'pipeline' not in inner:
        raise KeyError(f'{key}.dataset has no pipeline')
    inner['ann_file'] = list_file
    inner['data_prefix'] = dict(video='')
    if 'skip_unreadable' in inner:
        inner['skip_unreadable'] = False  # do not decode every video first
    return dataset


def write_video_list(videos: Sequence[str], path: str) -> str:
    """An annotation list of absolute paths, all with label 0."""
    with open(path, 'w') as f:
        f.writelines(f'{osp.abspath(video)} 0\n' for video in videos)
    return path


def measure_pipeline(cfg: Config,
                     split: str,
                     videos: Sequence[str],
                     items: int,
                     work_dir: str,
                     warmup: int = 1,
                     seed: Optional[int] = 0) -> PipelineCost:
    """Build the config's ``split`` dataset over ``videos`` and measure
    ``items`` fetches of it. ``seed`` seeds the random sampling and
    augmentation, so that runs (and configs) see the same clips."""
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    if seed is not None:
        random.seed(seed)
        np.random.seed(seed)
    list_file = write_video_list(videos,
                                 osp.join(work_dir, f'{split}_videos.txt'))
    dataset = DATASETS.build(dataset_cfg_for_videos(cfg, split, list_file))
    mp_cfg = cfg.get('env_cfg', {}).get('mp_cfg', {})
    return measure_dataset(dataset, split, items, warmup,
                           int(mp_cfg.get('opencv_num_threads', 0)))


def measure_model(config: Config,
                  device: str = 'cpu',
                  iters: int = 3,
                  warmup: int = 1,
                  train_batch: int = 2,
                  shape: Optional[Tuple[int, int, int]] = None) -> ModelResult:
    """The model's training clips/s on ``device`` (benchmark.py's
    measurement: ``train_step`` with AdamW on one view of the test
    protocol's shape, or ``shape``)."""
    return benchmark_model(
        'model',
        config,
        shape=shape,
        device=device,
        iters=iters,
        warmup=warmup,
        train_batch=train_batch,
        train=True)


# ----------------------------------------------------------------- verdict
def config_workers(cfg: Config) -> int:
    """Loader workers per GPU (per process) of the training dataloader."""
    return int(cfg.get('train_dataloader', {}).get('num_workers', 0))


def verdict(train: PipelineCost, model_clips_per_s: float,
            workers: int, device: str) -> Verdict:
    """One line: which side bounds training and how many workers (one CPU
    core each) per GPU would balance it."""
    per_worker = train.clips_per_s_per_worker
    needed = max(1, math.ceil(model_clips_per_s / per_worker))
    loader = per_worker * max(workers, 1)
    bound = 'data loading' if loader < model_clips_per_s else 'the model'
    text = (f'Training is bound by {bound}: one loader worker makes '
            f'{per_worker:.3g} training clips/s ({train.cpu_ms:.0f} ms CPU '
            f'per clip), the config\'s {workers} workers per GPU '
            f'{loader:.3g}, the model trains {model_clips_per_s:.3g} '
            f'clips/s on {device}; {needed} '
            f'{"worker (CPU core)" if needed == 1 else "workers (CPU cores)"}'
            ' per GPU would balance it.')
    if device.startswith('cpu'):
        text += (' (On the CPU the model and the workers share the same '
                 'cores.)')
    return Verdict(bound, model_clips_per_s, per_worker, workers, needed,
                   text)


# ------------------------------------------------------------------ tables
def pipeline_rows(cost: PipelineCost) -> List[Tuple[str, ...]]:
    """Header and one row per transform, then decoding, the dataset's own
    work and the total: CPU and wall ms per clip and the CPU share."""
    rows = [('transform', 'calls/clip', 'CPU ms/clip', 'wall ms/clip',
             'CPU %')]
    total = cost.cpu_ms or 1.

    def row(name, calls, cpu, wall):
        return (name, calls, f'{cpu:.1f}', wall, f'{100 * cpu / total:.0f}')

    for t in cost.transforms:
        rows.append(
            row(t.name + (' *' if t.loading else ''),
                f'{t.calls / cost.clips:.2g}', t.cpu_ms, f'{t.wall_ms:.1f}'))
    rows.append(row('(* decoding)', '', cost.decode_cpu_ms, ''))
    rows.append(row('(dataset, outside transforms)', '', cost.other_cpu_ms,
                    ''))
    rows.append(row('total', '', cost.cpu_ms, f'{cost.wall_ms:.1f}'))
    return rows


def summary_line(cost: PipelineCost) -> str:
    views = f' of {cost.views_per_clip} views' \
        if cost.views_per_clip > 1 else ''
    return (f'{cost.split} pipeline ({cost.dataset}): {cost.clips} clips'
            f'{views} from {cost.items} dataset items; {cost.cpu_ms:.1f} ms '
            f'CPU per clip, of which decoding {cost.decode_cpu_ms:.1f}: '
            f'{cost.clips_per_s_per_worker:.3g} clips/s per worker')
