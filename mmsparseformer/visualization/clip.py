"""Token tubes of a VideoSparseFormer recognizer on a real clip.

:func:`trace_clip` runs a recognizer on one view of a video and keeps the
tubes and sampling points of every unit application, mapped back onto the
original decoded frames; :func:`render_trace` draws chosen units and tokens;
:func:`visualize_clip` does both from a config (or a built model) and a
checkpoint.
"""
import copy
import os.path as osp
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MMLogger

from mmaction.apis import init_recognizer
from ..checkpoint_io import pretrained_checkpoint
from ..models import SparseFormerHead, VideoSparseFormer
from ..models.checkpoint import load_backbone_checkpoint, load_head_checkpoint
from ..utils.config import model_cfg_without_weights
from .geometry import (AxisMap, points_to_original, tubes_to_original,
                       model_view_box)
from .pipeline import (pipeline_from_config, run_tracked_pipeline,
                       single_view_pipeline)
from .token_tubes import (animation_frames, contact_sheet, draw_token_tubes,
                          resize_frames, scale_geometry, token_colors)
from .writers import ANIMATION_FORMATS, write_animation, write_png

__all__ = [
    'ClipTrace', 'TokenTubeVisualization', 'load_recognizer', 'trace_clip',
    'render_trace', 'visualize_clip', 'save_visualization'
]


@dataclass
class ClipTrace:
    """What a VideoSparseFormer did on one view of a clip."""
    frames: np.ndarray  # (T, H, W, 3) uint8 original decoded frames
    frame_inds: np.ndarray  # (T,) their indices in the video
    input_hw: Tuple[int, int]  # model input (H', W')
    to_original: AxisMap  # model-input pixels -> original pixels
    applications: List[dict]  # unit, repeat, rois (N, 6), points (N, P, 3)
    base_tokens: int  # N0: tokens per replicate group
    replicates: int  # R
    scores: Optional[np.ndarray] = None  # (num_classes,) class scores
    notes: List[str] = field(default_factory=list)

    @property
    def view_box(self) -> np.ndarray:
        """What the model saw, ``(x1, y1, x2, y2)`` in original pixels."""
        return model_view_box(self.input_hw, self.to_original)

    @property
    def num_tokens(self) -> int:
        return self.base_tokens * self.replicates

    def tubes(self, index: int, tokens: Sequence[int]) -> np.ndarray:
        """``(K, 6)`` tubes of application ``index`` in original pixels."""
        rois = self.applications[index]['rois'][np.asarray(tokens)]
        return tubes_to_original(rois, self.input_hw, self.to_original)

    def points(self, index: int,
               tokens: Sequence[int]) -> Optional[np.ndarray]:
        """``(K, P, 3)`` sampling points in original pixels (or ``None``)."""
        points = self.applications[index]['points']
        if points is None:
            return None
        return points_to_original(points[np.asarray(tokens)], self.input_hw,
                                  self.to_original)


@dataclass
class TokenTubeVisualization:
    """Rendered token tubes: arrays for notebooks, savable with
    :func:`save_visualization`."""
    panels: np.ndarray  # (T, C, h, w, 3): frame x column panels
    animation: np.ndarray  # (T, H, W, 3): one image per clip frame
    sheet: np.ndarray  # (H, W, 3): contact sheet
    sheet_rows: List[int]  # clip frame of each sheet row
    columns: List[dict]  # unit, repeat, label of each column
    tokens: np.ndarray  # (K,) token indices drawn
    colors: np.ndarray  # (K, 3) their colours
    tubes: np.ndarray  # (C, K, 6) tubes in original pixels
    points: List[Optional[np.ndarray]]  # per column (K, P, 3) or None
    trace: ClipTrace


# ---------------------------------------------------------------- the model
def _read_config(config: Union[str, Path, Config],
                 cfg_options: Optional[dict] = None) -> Config:
    """A copy of the config (path or object), with ``cfg_options``."""
    if isinstance(config, (str, Path)):
        if not osp.isfile(config):
            raise FileNotFoundError(f'Config file not found: {config}')
        cfg = Config.fromfile(str(config))
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        raise TypeError('config must be a path or an mmengine Config, not '
                        f'{type(config).__name__}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def load_recognizer(config, checkpoint: Optional[str] = None,
                    device: str = 'cpu', cfg_options: Optional[dict] = None):
    """A VideoSparseFormer recognizer from a config, in eval mode.

    Weights come from ``checkpoint`` when given (any layout
    :func:`~mmsparseformer.models.checkpoint.load_backbone_checkpoint`
    reads: this project's runner or converted checkpoints, official image
    checkpoints inflated on the fly, official video checkpoints); else from
    the config's backbone ``pretrained`` / ``init_cfg``; else fresh init.
    The config is kept as ``model.cfg``.
    """
    cfg = _read_config(config, cfg_options)
    backbone_cfg = cfg.get('model', {}).get('backbone')
    if not backbone_cfg or backbone_cfg.get('type') not in (
            'VideoSparseFormer', VideoSparseFormer):
        raise TypeError('Token tubes need a VideoSparseFormer backbone; the '
                        'config has model.backbone type '
                        f'{(backbone_cfg or {}).get("type")!r}')
    source = checkpoint or pretrained_checkpoint(
        backbone_cfg.get('pretrained'), backbone_cfg.get('init_cfg'))
    # the checkpoint, when given, has the head too
    cfg.model = model_cfg_without_weights(
        cfg.model, ('backbone', 'cls_head') if checkpoint else ('backbone', ))
    model = init_recognizer(cfg, None, device='cpu')
    # fresh init for anything the checkpoint lacks (child by child: the
    # recognizer's own init_weights logs every parameter)
    for child in model.children():
        if hasattr(child, 'init_weights'):
            child.init_weights()
    if source:
        logger = MMLogger.get_current_instance()
        load_backbone_checkpoint(model.backbone, source, logger)
        if isinstance(getattr(model, 'cls_head', None), SparseFormerHead):
            load_head_checkpoint(model.cls_head, source, logger)
    return model.to(device).eval()


def trace_clip(model, video: str, cfg=None) -> ClipTrace:
    """Run ``model`` on one view of ``video`` through the config's test
    pipeline (made single-view by
    :func:`~mmsparseformer.visualization.pipeline.single_view_pipeline`)
    and collect every unit application's tubes and points."""
    cfg = cfg if cfg is not None else getattr(model, 'cfg', None)
    if cfg is None:
        raise ValueError('trace_clip needs the config (for its test '
                         'pipeline): pass cfg= or a model built by '
                         'load_recognizer')
    if not osp.isfile(video):
        raise FileNotFoundError(f'Video file not found: {video}')
    backbone = getattr(model, 'backbone', None)
    if not hasattr(backbone, 'forward_trace'):
        raise TypeError('trace_clip needs a recognizer with a '
                        'VideoSparseFormer backbone, got '
                        f'{type(backbone).__name__}')
    pipeline, notes = single_view_pipeline(pipeline_from_config(cfg))
    clip = run_tracked_pipeline(pipeline, video)
    inputs = clip.inputs
    if inputs.dim() != 5 or inputs.shape[0] != 1:
        raise ValueError(
            'The test pipeline must pack one NCTHW clip (FormatShape '
            "input_format='NCTHW'), got inputs of shape "
            f'{tuple(inputs.shape)}')
    if inputs.shape[2] != len(clip.frames):
        raise ValueError(f'The model input has {inputs.shape[2]} frames but '
                         f'{len(clip.frames)} were decoded')
    with torch.no_grad():
        data = model.data_preprocessor(
            dict(inputs=[inputs], data_samples=[clip.data_sample]), False)
        x = data['inputs']
        x = x.reshape((-1, ) + tuple(x.shape[-4:]))
        trace = backbone.forward_trace(x)
        scores = None
        head = getattr(model, 'cls_head', None)
        if head is not None:
            scores = head(trace['tokens']).softmax(-1)[0].float().cpu()
            scores = scores.numpy()
    applications = []
    for app in trace['applications']:
        points = app['points']
        applications.append(
            dict(unit=int(app['unit']), repeat=int(app['repeat']),
                 rois=app['rois'][0].float().cpu().numpy(),
                 points=None if points is None else
                 points[0].float().cpu().numpy()))
    return ClipTrace(
        frames=clip.frames, frame_inds=clip.frame_inds, input_hw=clip.input_hw,
        to_original=clip.to_original, applications=applications,
        base_tokens=backbone.arch_settings['num_tokens'],
        replicates=backbone.replicates, scores=scores, notes=notes)


# ---------------------------------------------------------------- rendering
def select_columns(trace: ClipTrace, units: Optional[Sequence[int]] = None,
                   repeats: str = 'all') -> List[int]:
    """Indices of the applications to draw: of ``units`` (default: the
    sampling units), every repetition (``'all'``) or the last one."""
    if repeats not in ('all', 'last'):
        raise ValueError(f"repeats must be 'all' or 'last', got {repeats!r}")
    apps = trace.applications
    known = sorted({app['unit'] for app in apps})
    if units is None:
        units = sorted({app['unit'] for app in apps
                        if app['points'] is not None})
    bad = [u for u in units if u not in known]
    if bad:
        raise ValueError(f'Units {bad} do not exist; the model has units '
                         f'{known}')
    if not units:
        raise ValueError('The model has no sampling unit; pass units= '
                         f'(one of {known}) to draw its tubes')
    last = {app['unit']: i for i, app in enumerate(apps)}
    return [i for i, app in enumerate(apps) if app['unit'] in units and
            (repeats == 'all' or last[app['unit']] == i)]


def select_tokens(trace: ClipTrace, tokens: Optional[Sequence[int]] = None,
                  group: int = 0) -> np.ndarray:
    """Token indices to draw: ``tokens``, else all ``N0`` tokens of
    replicate group ``group`` (tokens ``group * N0 ... + N0 - 1``)."""
    if tokens is None:
        if not 0 <= group < trace.replicates:
            raise ValueError(f'Replicate group {group} does not exist; the '
                             f'model has groups 0..{trace.replicates - 1}')
        start = group * trace.base_tokens
        return np.arange(start, start + trace.base_tokens)
    tokens = np.asarray(list(tokens), np.int64).reshape(-1)
    bad = tokens[(tokens < 0) | (tokens >= trace.num_tokens)]
    if len(tokens) == 0 or len(bad):
        raise ValueError(f'Token indices must be in 0..{trace.num_tokens - 1}'
                         f' ({trace.replicates} groups of '
                         f'{trace.base_tokens}), got {tokens.tolist()}')
    return tokens


def column_label(app: dict, repeats_of_unit: int) -> str:
    if repeats_of_unit > 1:
        return f'unit {app["unit"]} rep {app["repeat"] + 1}/{repeats_of_unit}'
    return f'unit {app["unit"]}'


@dataclass
class _Style:
    """How boxes and points are drawn on the panels."""
    line_width: int
    point_radius: int
    fade_frames: float
    min_alpha: float
    view_box: Optional[np.ndarray]


def _draw_column(trace: ClipTrace, index: int, tokens: np.ndarray,
                 colors: np.ndarray, frames: np.ndarray, scale: Tuple[float,
                                                                      float],
                 style: _Style) -> Tuple[np.ndarray, np.ndarray,
                                         Optional[np.ndarray]]:
    """One application's panel ``(T, h, w, 3)`` over the resized frames,
    and its tubes and points in original pixels."""
    sx, sy = scale
    tube = trace.tubes(index, tokens)
    point = trace.points(index, tokens)
    panel = draw_token_tubes(
        frames,
        scale_geometry(tube, sx, sy),
        None if point is None else scale_geometry(point, sx, sy),
        colors,
        line_width=style.line_width,
        point_radius=style.point_radius,
        fade_frames=style.fade_frames,
        min_alpha=style.min_alpha,
        view_box=style.view_box)
    return panel, tube, point


def _column_labels(trace: ClipTrace, columns: Sequence[int]) -> List[dict]:
    """``unit``, ``repeat`` and ``label`` of each drawn application."""
    per_unit: dict = {}
    for app in trace.applications:
        per_unit[app['unit']] = per_unit.get(app['unit'], 0) + 1
    return [
        dict(unit=app['unit'], repeat=app['repeat'],
             label=column_label(app, per_unit[app['unit']]))
        for app in (trace.applications[index] for index in columns)
    ]


def render_trace(trace: ClipTrace,
                 units: Optional[Sequence[int]] = None,
                 tokens: Optional[Sequence[int]] = None,
                 group: int = 0,
                 repeats: str = 'all',
                 panel_height: Optional[int] = 240,
                 max_rows: Optional[int] = 8,
                 line_width: Optional[int] = None,
                 point_radius: Optional[int] = None,
                 fade_frames: float = 2.,
                 min_alpha: float = 0.,
                 show_view: bool = True) -> TokenTubeVisualization:
    """Draw the chosen units' tubes and points over the clip's frames.

    Columns are unit applications: with ``repeats='all'`` every repetition
    of the focusing unit is its own column (how the tubes move while
    focusing), with ``'last'`` only its final one. Colours follow the token
    index within its replicate group (``i mod N0``), so a token has the same
    colour in every column.

    Args:
        units: unit indices; default all sampling units.
        tokens: token indices; default replicate group ``group``.
        panel_height: frames are scaled to this height (``None``: original).
        max_rows: frames on the contact sheet (evenly spread).
        line_width, point_radius: pixels; default from the panel height.
        fade_frames, min_alpha: box opacity away from a tube's time span.
        show_view: darken what lies outside the model's crop.
    """
    columns = select_columns(trace, units, repeats)
    chosen = select_tokens(trace, tokens, group)
    colors = token_colors(chosen % trace.base_tokens)
    frames, sx, sy = resize_frames(trace.frames, panel_height)
    default_px = max(1, int(round(frames.shape[1] / 120)))
    style = _Style(line_width or default_px,
                   default_px if point_radius is None else point_radius,
                   fade_frames, min_alpha,
                   scale_geometry(trace.view_box, sx, sy) if show_view else
                   None)
    drawn = [
        _draw_column(trace, index, chosen, colors, frames, (sx, sy), style)
        for index in columns
    ]
    labels = _column_labels(trace, columns)
    panels = np.stack([panel for panel, _, _ in drawn], axis=1)  # T,C,h,w,3
    frame_labels = [f'f{f} #{int(trace.frame_inds[f])}'
                    for f in range(len(trace.frames))]
    column_labels = [column['label'] for column in labels]
    sheet, rows = contact_sheet(
        panels, column_labels, frame_labels, max_rows=max_rows,
        title=_title(trace, chosen, group if tokens is None else None))
    return TokenTubeVisualization(
        panels, animation_frames(panels, column_labels, frame_labels), sheet,
        rows, labels, chosen, colors, np.stack([t for _, t, _ in drawn]),
        [point for _, _, point in drawn], trace)


def _title(trace: ClipTrace, tokens: np.ndarray,
           group: Optional[int]) -> str:
    if group is not None:
        text = f'tokens {tokens[0]}-{tokens[-1]} (replicate group {group} ' \
               f'of {trace.replicates})'
    else:
        text = f'{len(tokens)} tokens'
    if trace.scores is not None:
        best = int(np.argmax(trace.scores))
        text += f'; top-1 class {best} ({trace.scores[best]:.2f})'
    return text


def visualize_clip(model_or_config,
                   checkpoint: Optional[str] = None,
                   video: Optional[str] = None,
                   config=None,
                   device: str = 'cpu',
                   cfg_options: Optional[dict] = None,
                   **render_kwargs) -> TokenTubeVisualization:
    """Token tubes of a VideoSparseFormer on ``video``, as arrays.

    Args:
        model_or_config: a config path / ``Config`` (then ``checkpoint`` is
            loaded, see :func:`load_recognizer`) or a built recognizer
            (its ``cfg``, or ``config``, gives the test pipeline).
        checkpoint: weights for a config; must be ``None`` for a model.
        video: the video file.
        **render_kwargs: see :func:`render_trace`.
    """
    if video is None:
        raise ValueError('visualize_clip needs a video file')
    if isinstance(model_or_config, nn.Module):
        if checkpoint is not None:
            raise ValueError('Pass a checkpoint with a config, not with an '
                             'already built model')
        model = model_or_config
        cfg = config
        if cfg is not None and isinstance(cfg, (str, Path)):
            cfg = Config.fromfile(str(cfg))
        model.eval()
    else:
        model = load_recognizer(model_or_config, checkpoint, device,
                                cfg_options)
        cfg = model.cfg
    trace = trace_clip(model, video, cfg)
    return render_trace(trace, **render_kwargs)


def save_visualization(vis: TokenTubeVisualization, out: str,
                       sheet: Optional[str] = None,
                       fps: float = 4.) -> Tuple[str, str]:
    """Write the animation to ``out`` (``.gif`` / ``.mp4``) and the contact
    sheet to ``sheet`` (default: ``out`` with ``.png``)."""
    stem, suffix = osp.splitext(out)
    if suffix.lower() not in ANIMATION_FORMATS:
        raise ValueError(f'--out must end with one of {ANIMATION_FORMATS}, '
                         f'got {out}')
    sheet = sheet or stem + '.png'
    if osp.abspath(sheet) == osp.abspath(out):
        raise ValueError(f'The sheet and the animation are both {out}')
    write_animation(out, vis.animation, fps)
    write_png(sheet, vis.sheet)
    return out, sheet
