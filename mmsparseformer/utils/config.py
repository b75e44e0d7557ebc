"""Reading MMAction2 configs: the test pipeline, the test protocol (clip
shape and views per video), and a model config that loads no weights.

The protocol is read from the config's test pipeline
(``test_dataloader.dataset.pipeline``, else ``test_pipeline``), the way
MMAction2 model-zoo tables report "clips x crops" views.
"""
import copy
import os.path as osp
from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple, Union

from mmengine.config import Config, ConfigDict

#: The repository holding the package (an editable install runs from it).
PROJECT_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.abspath(__file__))))
#: The repository's MMAction2 configs.
PROJECT_CONFIGS = osp.join(PROJECT_ROOT, 'configs')
#: Frame samplers and the argument that gives their clips per video.
SAMPLERS = ('SampleFrames', 'UniformSample', 'UniformSampleFrames',
            'DenseSampleFrames', 'SampleAVAFrames')
#: Multi-crop transforms and their crops per clip.
MULTI_CROPS = {'ThreeCrop': 3, 'TenCrop': 10}


def load_config(config: Union[str, Config, ConfigDict, dict]) -> Config:
    """A :class:`Config` from a path or a config object."""
    if isinstance(config, (Config, ConfigDict, dict)):
        return config if isinstance(config, Config) else Config(config)
    return Config.fromfile(config)


def model_cfg_without_weights(
        model_cfg: dict,
        parts: Iterable[str] = ('backbone', 'cls_head')) -> dict:
    """A copy of ``model_cfg`` whose ``parts`` load no checkpoint: their
    ``pretrained`` is ``None`` and a ``Pretrained`` ``init_cfg`` is
    dropped (as ``mmaction.apis.init_recognizer`` does for the backbone).
    Building it reads no file, whatever ``init_weights`` does later."""
    model_cfg = copy.deepcopy(model_cfg)
    for part in parts:
        sub = model_cfg.get(part)
        if not isinstance(sub, dict):
            continue
        if 'pretrained' in sub:
            sub['pretrained'] = None
        init_cfg = sub.get('init_cfg')
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            sub['init_cfg'] = None
    return model_cfg


@dataclass
class ViewProtocol:
    """Input shape of one view and views per video of a test pipeline."""
    clip_len: int
    height: int
    width: int
    num_clips: int
    num_crops: int

    @property
    def views(self) -> int:
        """Views (clips x crops) averaged per video."""
        return self.num_clips * self.num_crops

    @property
    def shape(self) -> Tuple[int, int, int]:
        """``(T, H, W)`` of one view."""
        return self.clip_len, self.height, self.width

    def describe(self) -> str:
        return (f'{self.num_clips} clips x {self.num_crops} crops = '
                f'{self.views} views of {self.clip_len}x{self.height}x'
                f'{self.width}')


def _dataset_pipeline(dataset: Optional[dict]) -> Optional[list]:
    """The pipeline of a (possibly wrapped) dataset config."""
    while isinstance(dataset, dict):
        if dataset.get('pipeline'):
            return list(dataset['pipeline'])
        if isinstance(dataset.get('datasets'), (list, tuple)):
            dataset = dataset['datasets'][0]
        else:
            dataset = dataset.get('dataset')
    return None


def read_test_pipeline(cfg: Config) -> List[dict]:
    """The test pipeline of ``cfg``; a clear error when it has none."""
    loader = cfg.get('test_dataloader')
    pipeline = _dataset_pipeline(loader.get('dataset')) if isinstance(
        loader, dict) else None
    if pipeline is None:
        pipeline = cfg.get('test_pipeline')
    if not pipeline:
        raise KeyError(
            'The config has no test pipeline: neither '
            'test_dataloader.dataset.pipeline nor test_pipeline is set')
    return [dict(step) for step in pipeline]


def _size_hw(size) -> Tuple[int, int]:
    """MMAction2 sizes are an int or ``(w, h)``; returns ``(h, w)``."""
    if isinstance(size, int):
        return size, size
    width, height = size
    return int(height), int(width)


@dataclass
class _PipelineScan:
    """What the steps of a test pipeline say about its views."""
    clip_len: Optional[int] = None
    num_clips: Optional[int] = None
    repeats: int = 1
    num_crops: int = 1
    size: Optional[Tuple[int, int]] = None


def _scan_pipeline(pipeline: List[dict]) -> _PipelineScan:
    """The sampler's clips, the crops and the frame size of a pipeline.

    ``DenseSampleFrames`` in test mode samples ``num_sample_positions``
    times, ``twice_sample`` twice.
    """
    scan = _PipelineScan()
    for step in pipeline:
        kind = step.get('type')
        if kind in SAMPLERS:
            scan.clip_len = step.get('clip_len', 1)
            scan.num_clips = step.get('num_clips', 1)
            scan.repeats = 2 if step.get('twice_sample') else 1
            if kind == 'DenseSampleFrames' and step.get('test_mode'):
                scan.repeats *= step.get('num_sample_positions', 10)
        elif kind in MULTI_CROPS:
            scan.num_crops = MULTI_CROPS[kind]
            scan.size = _size_hw(step['crop_size'])
        elif kind in ('CenterCrop', 'RandomCrop'):
            scan.size = _size_hw(step['crop_size'])
        elif kind == 'Resize' and not step.get('keep_ratio', True) and \
                scan.size is None:
            scale = step['scale']
            if isinstance(scale, (int, float)) or min(scale) > 0:
                scan.size = _size_hw(scale)
    if scan.num_clips is None:
        raise KeyError(f'No frame sampler ({", ".join(SAMPLERS)}) in the '
                       'test pipeline: cannot tell the clips per video')
    return scan


def read_view_protocol(cfg: Config,
                       shape: Optional[Tuple[int, int, int]] = None
                       ) -> ViewProtocol:
    """Clip length, crop size and views of the config's test pipeline.

    For a ``Recognizer2D`` sampling one-frame segments (TSN, TSM...) the
    segments form one input, so a view is one crop of all segments.

    Args:
        cfg (Config): An MMAction2 config.
        shape (tuple, optional): ``(T, H, W)`` overriding the clip shape
            read from the pipeline (the views still come from it).

    Raises:
        KeyError: when the pipeline does not determine the clip shape and
            ``shape`` is not given.
    """
    scan = _scan_pipeline(read_test_pipeline(cfg))
    clip_len, num_clips = scan.clip_len, scan.num_clips
    if cfg.get('model', {}).get('type') == 'Recognizer2D' and clip_len == 1:
        # segments of one frame (TSN, TSM) form one input of a 2D recognizer
        clip_len, num_clips = num_clips, scan.repeats
    else:
        num_clips *= scan.repeats
    if shape is not None:
        clip_len, height, width = (int(v) for v in shape)
    elif scan.size is None:
        raise KeyError('The test pipeline has no crop and no fixed Resize, '
                       'so the frame size depends on the video: pass '
                       '--shape T H W')
    else:
        height, width = scan.size
    return ViewProtocol(
        clip_len=int(clip_len),
        height=height,
        width=width,
        num_clips=int(num_clips),
        num_crops=scan.num_crops)
