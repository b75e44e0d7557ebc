"""The text classifier file of zero-shot heads.

A text classifier holds one L2-normalised embedding per class, made by a
CLIP text encoder from the class names and prompt templates
(``tools/zeroshot/build_text_classifier.py``), and what made it::

    {'format': 'mmsparseformer.text_classifier', 'version': 1,
     'embeddings': Tensor(num_classes, embed_dims),
     'meta': {'clip_model': 'ViT-B-16', 'model_path': ..., 'templates': [...],
              'label_map': [...class names...], 'label_map_file': ...,
              'embed_dims': 512, 'logit_scale': 100.0, ...}}

It lives beside the head (models level) so that the head reads it without
depending on the builder or on a CLIP library.
"""
import os
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional

import torch
from torch import Tensor

from ...checkpoint_io import CheckpointError, load_checkpoint_file

FORMAT = 'mmsparseformer.text_classifier'
VERSION = 1
#: The logit scale of OpenAI's CLIP models: ``exp(t)`` of the learned
#: temperature, clipped at 100 in training; the released models reach it.
CLIP_LOGIT_SCALE = 100.
#: What the error messages suggest for building a file.
BUILD_HINT = 'build one with tools/zeroshot/build_text_classifier.py'


class TextClassifierError(ValueError):
    """A text classifier file that is missing, unreadable or does not fit
    the head."""


@dataclass
class TextClassifier:
    """Class embeddings ``(num_classes, embed_dims)`` and their metadata."""
    embeddings: Tensor
    meta: dict
    path: str = ''

    @property
    def num_classes(self) -> int:
        return self.embeddings.shape[0]

    @property
    def embed_dims(self) -> int:
        return self.embeddings.shape[1]

    @property
    def class_names(self) -> Optional[List[str]]:
        """The label map the file was built from, if it stores one."""
        names = self.meta.get('label_map')
        return list(names) if names is not None else None

    @property
    def logit_scale(self) -> Optional[float]:
        scale = self.meta.get('logit_scale')
        return float(scale) if scale is not None else None


def save_text_classifier(path: str, embeddings: Tensor, meta: dict) -> str:
    """Write a text classifier file (float32 embeddings, plain metadata)."""
    if embeddings.dim() != 2:
        raise TextClassifierError(
            f'{path}: class embeddings must be (num_classes, embed_dims), '
            f'got {tuple(embeddings.shape)}')
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    meta = dict(meta, embed_dims=embeddings.shape[1])
    torch.save(
        dict(format=FORMAT, version=VERSION,
             embeddings=embeddings.detach().float().cpu().contiguous(),
             meta=meta), path)
    return path


def _read(path: str) -> dict:
    """The file's content, read as every checkpoint is (weights only);
    a missing or corrupt file is an error naming it."""
    try:
        return load_checkpoint_file(path)
    except CheckpointError as err:
        raise TextClassifierError(f'Text classifier: {err} ({BUILD_HINT})'
                                  ) from err


def load_text_classifier(path: str) -> TextClassifier:
    """Read and check a text classifier file; errors name the file."""
    data = _read(path)
    if not isinstance(data, dict) or data.get('format') != FORMAT:
        found = data.get('format') if isinstance(data, dict) else \
            type(data).__name__
        raise TextClassifierError(
            f'{path} is not a text classifier file (format {found!r}, '
            f'expected {FORMAT!r}; {BUILD_HINT})')
    embeddings, meta = data.get('embeddings'), data.get('meta') or {}
    if not isinstance(embeddings, Tensor) or embeddings.dim() != 2:
        shape = tuple(embeddings.shape) if isinstance(
            embeddings, Tensor) else type(embeddings).__name__
        raise TextClassifierError(
            f'{path}: embeddings must be a (num_classes, embed_dims) tensor, '
            f'got {shape}')
    names = meta.get('label_map')
    if names is not None and len(names) != embeddings.shape[0]:
        raise TextClassifierError(
            f'{path}: {embeddings.shape[0]} class embeddings but a label map '
            f'of {len(names)} names')
    return TextClassifier(embeddings.float(), dict(meta), path)
