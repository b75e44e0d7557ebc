"""Video inference with a config's test pipeline, on a choice of backends.

Every backend receives the same input: the views of one video decoded by
the config's test pipeline and normalised by the model's data
preprocessor, ``(V, 3, T, H, W)`` float32. It returns per-view logits; the
views are averaged by the head's ``average_clip`` (the config's
``average_clips``), as MMAction2's ``Recognizer3D`` does at test time.
"""
import copy
import os.path as osp
import sys
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from torch import Tensor

from mmaction.registry import MODELS
from ..deployment.backends import InferenceBackend, PyTorchBackend
from ..deployment.onnxruntime_backend import OnnxRuntimeBackend
from ..models.heads.text_classifier import load_text_classifier
from ..utils.config import load_config, read_test_pipeline
from ..utils.label_map import read_label_map
from ..utils.video_io import VIDEO_EXTENSIONS, find_videos
from .recognizer import build_recognizer

#: Backends of :func:`build_inferencer`.
BACKENDS = ('pytorch', 'onnxruntime')


class VideoReadError(RuntimeError):
    """A video the test pipeline cannot read."""


def _chunks(clips: Tensor, size: Optional[int]) -> Iterable[Tensor]:
    if not size or size >= len(clips):
        yield clips
        return
    for start in range(0, len(clips), size):
        yield clips[start:start + size]


class VideoInferencer:
    """Scores of videos with a config's test pipeline and a backend.

    Args:
        cfg (Config): The model's config (test pipeline, data preprocessor
            and head settings).
        backend (InferenceBackend): Computes the per-view logits.
        data_preprocessor (nn.Module): Normalises and formats the decoded
            views (the config's ``model.data_preprocessor``).
        head (nn.Module): A head with MMAction2's ``average_clip``.
        view_batch (int, optional): Views per backend call (default: all
            views of a video at once, or the backend's batch limit).
    """

    def __init__(self,
                 cfg: Config,
                 backend: InferenceBackend,
                 data_preprocessor: nn.Module,
                 head: nn.Module,
                 view_batch: Optional[int] = None) -> None:
        init_default_scope(cfg.get('default_scope', 'mmaction'))
        self.cfg = cfg
        self.backend = backend
        self.pipeline = Compose(read_test_pipeline(cfg))
        self.data_preprocessor = data_preprocessor.eval()
        self.head = head
        self.num_classes = head.num_classes
        if backend.fixed_batch:
            view_batch = backend.fixed_batch
        elif backend.max_batch:
            view_batch = min(view_batch or backend.max_batch,
                             backend.max_batch)
        self.view_batch = view_batch

    @torch.no_grad()
    def preprocess(self, video: str) -> Tensor:
        """Decode and normalise the views of a video: ``(V, 3, T, H, W)``."""
        if not osp.isfile(video):
            raise FileNotFoundError(f'No such video file: {video}')
        data = dict(filename=video, label=-1, start_index=0, modality='RGB')
        try:
            data = self.pipeline(data)
        except Exception as err:
            raise VideoReadError(f'cannot decode {video} with the test '
                                 f'pipeline ({type(err).__name__}: {err})'
                                 ) from err
        batch = pseudo_collate([data])
        inputs = self.data_preprocessor(batch, False)['inputs']
        return inputs.reshape(-1, *inputs.shape[2:]).float()

    def view_logits(self, clips: Tensor) -> Tensor:
        """Per-view logits ``(V, K)``, ``view_batch`` views per call."""
        outputs = []
        for chunk in _chunks(clips, self.view_batch):
            count = len(chunk)
            fixed = self.backend.fixed_batch
            if fixed and count < fixed:  # pad a static-batch model's input
                pad = chunk.new_zeros((fixed - count, ) + chunk.shape[1:])
                chunk = torch.cat([chunk, pad])
            outputs.append(self.backend.logits(chunk)[:count])
        return torch.cat(outputs)

    @torch.no_grad()
    def average_views(self, logits: Tensor) -> Tensor:
        """The head's ``average_clip`` over the views of one video."""
        scores = self.head.average_clip(logits.float(), num_segs=len(logits))
        if scores.dim() == 3:  # average_clips=None keeps the views
            scores = scores.mean(dim=1)
        return scores[0]

    def predict(self, video: str) -> Tuple[Tensor, int]:
        """Class scores ``(K, )`` of one video (views averaged) and its
        number of views."""
        clips = self.preprocess(video)
        return self.average_views(self.view_logits(clips)), len(clips)

    def __call__(self, video: str) -> Tensor:
        """Class scores ``(K, )`` of one video, views averaged."""
        return self.predict(video)[0]


def build_inferencer(config: Union[str, Config],
                     checkpoint: Optional[str] = None,
                     backend: str = 'pytorch',
                     device: str = 'cpu',
                     view_batch: Optional[int] = None) -> VideoInferencer:
    """A :class:`VideoInferencer` for a config and a model file.

    Args:
        config (str | Config): The model's config.
        checkpoint (str): A PyTorch checkpoint (``backend='pytorch'``) or
            an exported ``.onnx`` file (``backend='onnxruntime'``).
        backend (str): One of :data:`BACKENDS`. Both get the same decoded,
            normalised views and their logits are averaged the same way.
        device (str): ``'cpu'`` or ``'cuda[:i]'``.
        view_batch (int, optional): Views per backend call.
    """
    cfg = load_config(config)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    if backend == 'pytorch':
        check_device(device)
        model = build_recognizer(cfg, checkpoint, device)
        return VideoInferencer(cfg, PyTorchBackend(model),
                               model.data_preprocessor, model.cls_head,
                               view_batch)
    if backend == 'onnxruntime':
        runtime = OnnxRuntimeBackend(checkpoint, device)
        head = MODELS.build(cfg.model.cls_head)
        runtime.check_num_classes(head.num_classes)
        runtime.check_clip_shape(cfg)
        preprocessor = MODELS.build(cfg.model.data_preprocessor)
        return VideoInferencer(cfg, runtime, preprocessor, head, view_batch)
    raise ValueError(f"Unknown backend {backend!r}: choose from "
                     f"{list(BACKENDS)}")


def check_device(device: str) -> None:
    """A clear error for a device this machine does not have."""
    kind = torch.device(device).type
    if kind == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError(f'--device {device}: CUDA is not available on '
                           'this machine (use --device cpu)')
    if kind not in ('cpu', 'cuda'):
        raise ValueError(f'Unsupported device {device!r}: use cpu or cuda')


def with_text_classifier(config: Union[str, Config],
                         classifier: str) -> Config:
    """A zero-shot config (``ZeroShotHead``) scoring the classes of another
    text classifier file: the head's ``classifier`` and ``num_classes``
    come from the file (``tools/zeroshot/build_text_classifier.py``)."""
    cfg = copy.deepcopy(load_config(config))
    head = cfg.model.get('cls_head') or {}
    if head.get('type') != 'ZeroShotHead':
        raise ValueError('a text classifier needs a zero-shot config '
                         "(model.cls_head.type='ZeroShotHead'); this one has "
                         f'{head.get("type")!r}')
    text = load_text_classifier(classifier)
    head.update(classifier=classifier, num_classes=text.num_classes)
    return cfg


def collect_videos(inputs: Sequence[str],
                   extensions: Sequence[str] = VIDEO_EXTENSIONS) -> List[str]:
    """Video files from files and folders (searched recursively, sorted).

    Files are kept as given, also when missing or unreadable, so that the
    run reports them; a folder contributes its files with a video
    extension.
    """
    videos: List[str] = []
    for path in inputs:
        if osp.isdir(path):
            videos += find_videos(path, extensions)
        else:
            videos.append(path)
    return videos


def load_label_map(path: str, num_classes: Optional[int] = None) -> List[str]:
    """Class names, one per line (MMAction2's ``label_map_*.txt``), as many
    as the model's classes when ``num_classes`` is given."""
    names = read_label_map(path)
    if num_classes is not None and len(names) != num_classes:
        raise ValueError(f'Label map {path} has {len(names)} names but the '
                         f'model has {num_classes} classes')
    return names


def topk_entries(scores: Tensor,
                 k: int,
                 names: Optional[Sequence[str]] = None) -> List[dict]:
    """The ``k`` best classes: ``label``, ``name`` (or None), ``score``."""
    values, labels = scores.topk(min(k, scores.numel()))
    return [
        dict(
            label=int(label),
            name=names[int(label)] if names else None,
            score=float(value)) for value, label in zip(values, labels)
    ]


def infer_videos(inferencer: VideoInferencer,
                 videos: Sequence[str],
                 topk: int = 5,
                 names: Optional[Sequence[str]] = None,
                 progress: bool = True) -> List[dict]:
    """Run ``inferencer`` on every video; a video that fails is reported
    (``error``) and the run goes on.

    Returns:
        list[dict]: Per video ``file`` and either ``views`` and the ``topk``
        classes of the averaged scores, or ``error``.
    """
    bar = ProgressBar(len(videos), file=sys.stdout) \
        if progress and len(videos) > 1 else None
    results = []
    for video in videos:
        try:
            scores, views = inferencer.predict(video)
            results.append(
                dict(
                    file=video,
                    views=views,
                    topk=topk_entries(scores, topk, names)))
        except Exception as err:  # report and go on with the others
            results.append(
                dict(file=video, error=f'{type(err).__name__}: {err}'))
        if bar is not None:
            bar.update()
    if bar is not None:
        print()
    return results
