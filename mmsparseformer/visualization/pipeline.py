"""Run an MMAction2 test pipeline on one video, one view, and keep track of
where every model-input pixel comes from in the original decoded frames.

The pipeline's transforms run one at a time; after each, what it recorded
in the results dict (``img_shape``, ``crop_bbox``, ``scale_factor``,
``flip``/``flip_direction``) tells which resize, crop or flip it did, and
the pixel maps of the steps compose into one
:class:`~mmsparseformer.visualization.geometry.AxisMap`.
"""
import copy
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.registry import init_default_scope

from mmaction.registry import TRANSFORMS
from .geometry import (AxisMap, crop_map, flip_map, model_view_box,
                       resize_map)

__all__ = [
    'GeometryState', 'TrackedClip', 'single_view_pipeline', 'step_map',
    'run_tracked_pipeline', 'pipeline_from_config'
]

#: Multi-view crops replaced by one centre crop of the same size.
MULTI_VIEW_CROPS = ('ThreeCrop', 'TenCrop')
#: Frame samplers (every one has ``num_clips``).
SAMPLERS = ('SampleFrames', 'DenseSampleFrames', 'UniformSample',
            'UntrimmedSampleFrames')
#: Decoders that read frames from a directory, not from a video file.
FRAME_DIR_DECODERS = ('RawFrameDecode', 'ImageDecode')


def _type_name(transform_cfg: dict) -> str:
    kind = transform_cfg.get('type')
    if isinstance(kind, str):
        return kind.split('.')[-1]
    return getattr(kind, '__name__', str(kind))


def pipeline_from_config(cfg) -> List[dict]:
    """The test pipeline of an MMAction2 config: ``test_pipeline``, else
    ``test_dataloader.dataset.pipeline``, else the val one."""
    if cfg.get('test_pipeline'):
        return list(cfg.test_pipeline)
    for loader in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(loader) or {}).get('dataset') or {}
        if dataset.get('pipeline'):
            return list(dataset['pipeline'])
    raise KeyError('The config has no test pipeline: none of test_pipeline, '
                   'test_dataloader.dataset.pipeline, '
                   'val_dataloader.dataset.pipeline is set')


def single_view_pipeline(pipeline: Sequence[dict]
                         ) -> Tuple[List[dict], List[str]]:
    """One clip, one centre crop, no lazy ops, deterministic sampling.

    Returns the new pipeline and a note for every change made.
    """
    out, notes = [], []
    for transform in pipeline:
        transform = copy.deepcopy(dict(transform))
        name = _type_name(transform)
        if name in FRAME_DIR_DECODERS:
            raise ValueError(
                f'The test pipeline decodes frame directories ({name}); '
                'token visualisation needs a pipeline that reads a video '
                'file (DecordInit/DecordDecode, PyAVInit/PyAVDecode, '
                'OpenCVInit/OpenCVDecode)')
        if name == 'Fuse':
            notes.append('dropped Fuse (lazy ops run eagerly instead)')
            continue
        if transform.pop('lazy', False):
            notes.append(f'{name}: lazy=False')
        if name in SAMPLERS:
            if transform.get('num_clips', 1) != 1:
                notes.append(f'{name}: num_clips {transform["num_clips"]} '
                             '-> 1')
                transform['num_clips'] = 1
            if transform.get('twice_sample'):
                notes.append(f'{name}: twice_sample -> False')
                transform['twice_sample'] = False
            if name != 'UntrimmedSampleFrames' and \
                    not transform.get('test_mode', False):
                notes.append(f'{name}: test_mode -> True')
                transform['test_mode'] = True
        if name in MULTI_VIEW_CROPS:
            notes.append(f'{name} -> CenterCrop (one view)')
            transform = dict(type='CenterCrop',
                             crop_size=transform['crop_size'])
        out.append(transform)
    return out, notes


@dataclass
class GeometryState:
    """What a results dict says about the current image geometry."""
    shape: Optional[Tuple[int, int]]
    crop_bbox: Any = None
    scale_factor: Optional[Tuple[float, float]] = None
    flip: bool = False
    flip_direction: Optional[str] = None

    @classmethod
    def of(cls, results: dict) -> 'GeometryState':
        shape = results.get('img_shape')
        if shape is None and isinstance(results.get('imgs'), list) and \
                results['imgs']:
            shape = results['imgs'][0].shape[:2]
        scale = results.get('scale_factor')
        return cls(
            shape=None if shape is None else tuple(int(s) for s in shape),
            crop_bbox=results.get('crop_bbox'),
            scale_factor=None if scale is None else tuple(
                float(s) for s in np.ravel(scale)),
            flip=bool(results.get('flip', False)),
            flip_direction=results.get('flip_direction'))


def step_map(before: GeometryState, after: GeometryState,
             name: str = 'transform') -> AxisMap:
    """The pixel map of one transform, from the geometry before and after.

    A new ``crop_bbox`` is a crop (then a resize if the output is not the
    crop's size); a new ``scale_factor`` with a new shape is a resize; a
    ``flip`` turning on is a flip. Any other shape change cannot be mapped
    and raises.
    """
    if before.shape is None or after.shape is None:
        return AxisMap()  # before decoding / after packing: no pixels
    result = AxisMap()
    shape = before.shape
    if after.crop_bbox is not None and after.crop_bbox is not \
            before.crop_bbox:
        left, top, right, bottom = (float(v) for v in after.crop_bbox)
        result = result.then(crop_map((left, top, right, bottom)))
        shape = (int(round(bottom - top)), int(round(right - left)))
    if after.shape != shape:
        if after.scale_factor == before.scale_factor and shape == \
                before.shape:
            raise ValueError(
                f'Cannot map coordinates through {name}: it changed the '
                f'image shape {before.shape} -> {after.shape} without '
                'recording a crop_bbox or scale_factor')
        result = result.then(resize_map(shape, after.shape))
    if after.flip and not before.flip:
        result = result.then(flip_map(after.flip_direction, after.shape))
    return result


@dataclass
class TrackedClip:
    """One view of a video through a pipeline, with its pixel map."""
    frames: np.ndarray  # (T, H, W, 3) uint8 original decoded frames (RGB)
    frame_inds: np.ndarray  # (T,) indices of those frames in the video
    inputs: Any  # the packed inputs (C, T, H', W') or (1, C, T, H', W')
    data_sample: Any  # the packed ActionDataSample
    input_hw: Tuple[int, int]  # model input height and width
    to_input: AxisMap  # original pixels -> model-input pixels
    notes: List[str] = field(default_factory=list)

    @property
    def to_original(self) -> AxisMap:
        return self.to_input.inverse()

    @property
    def view_box(self) -> np.ndarray:
        """The model's view in original pixels ``(x1, y1, x2, y2)``."""
        return model_view_box(self.input_hw, self.to_original)


def run_tracked_pipeline(pipeline: Sequence[dict], video: str,
                         start_index: int = 0) -> TrackedClip:
    """Run ``pipeline`` on ``video`` transform by transform.

    The original frames are those the decoder produced (one per model
    input frame); the pixel map is the composition of every step's map.
    Run :func:`single_view_pipeline` first for multi-view test pipelines.
    """
    init_default_scope('mmaction')
    results = dict(filename=video, label=-1, start_index=start_index,
                   modality='RGB')
    frames = frame_inds = None
    to_input = AxisMap()
    state = GeometryState.of(results)
    last_shape = None
    for transform_cfg in pipeline:
        transform = TRANSFORMS.build(copy.deepcopy(transform_cfg))
        name = type(transform).__name__
        try:
            results = transform(results)
        except Exception as err:
            raise RuntimeError(f'The pipeline step {name} failed on {video}: '
                               f'{type(err).__name__}: {err}') from err
        if results is None:
            raise RuntimeError(f'The pipeline step {name} dropped {video}')
        if frames is None and isinstance(results.get('imgs'), list) and \
                results['imgs']:
            frames = np.stack(results['imgs']).copy()
            frame_inds = np.asarray(results.get('frame_inds',
                                                np.arange(len(frames))))
            state = GeometryState.of(results)
            last_shape = state.shape
            continue
        new_state = GeometryState.of(results)
        if frames is not None:
            to_input = to_input.then(step_map(state, new_state, name))
            if new_state.shape is not None:
                last_shape = new_state.shape
        state = new_state
    if frames is None:
        raise ValueError('The pipeline decoded no frames (no list of images '
                         "under 'imgs' appeared); it needs a video decoder")
    if 'inputs' not in results:
        raise ValueError('The pipeline does not end with PackActionInputs '
                         f"(results keys: {sorted(results)})")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f'Decoded frames of {video} have shape '
                         f'{frames.shape}; expected (T, H, W, 3) RGB')
    inputs = results['inputs']
    input_hw = tuple(int(s) for s in inputs.shape[-2:])
    if last_shape is not None and tuple(last_shape) != input_hw:
        raise ValueError(f'The pipeline ends with images of {last_shape} but '
                         f'packs inputs of shape {tuple(inputs.shape)}')
    return TrackedClip(frames=frames, frame_inds=frame_inds.reshape(-1),
                       inputs=inputs, data_sample=results['data_samples'],
                       input_hw=input_hw, to_input=to_input)
