"""Zero-shot classification head: a CLIP-bootstrapped SparseFormer's video
embedding against the CLIP text embeddings of class names."""
from typing import List, Optional

import torch.nn.functional as F
from torch import Tensor

from mmaction.registry import MODELS
from .sparseformer_head import SparseFormerHead
from .text_classifier import (CLIP_LOGIT_SCALE, TextClassifier,
                              TextClassifierError, load_text_classifier)


def check_text_classifier(classifier: TextClassifier, num_classes: int,
                          embed_dims: int) -> None:
    """A classifier whose width or class count differs from the head's is
    an error that names both numbers and the file."""
    path = classifier.path
    if classifier.embed_dims != embed_dims:
        raise TextClassifierError(
            f'{path}: the text classifier has {classifier.embed_dims}-d '
            f'class embeddings but the head projects videos to {embed_dims}-d '
            f'(proj_dims={embed_dims}); build it with the CLIP model of the '
            'checkpoint (ViT-B-16: 512-d for btsp-clip-base, ViT-L-14: '
            '768-d for btsp-clip-large)')
    if classifier.num_classes != num_classes:
        raise TextClassifierError(
            f'{path}: the text classifier has {classifier.num_classes} '
            f'classes but the head has num_classes={num_classes}; set '
            f'model.cls_head.num_classes={classifier.num_classes} or use a '
            f'classifier of {num_classes} classes')


@MODELS.register_module()
class ZeroShotHead(SparseFormerHead):
    """Class token -> LayerNorm -> CLIP projection -> L2 norm, scored
    against fixed CLIP text embeddings of the class names.

    ``logits = logit_scale * normalize(embed(tokens)) @ classifier.T``: the
    cosine similarity of the video and each class text, times CLIP's logit
    scale. Views are averaged by :class:`BaseHead`'s ``average_clips``.

    The classifier is a non-persistent buffer read from its file when the
    head is built: recognizer checkpoints do not carry it, so the same
    weights serve any label set. The head has no classifier parameters; a
    loss still works (cross-entropy on the scaled cosines, which trains
    ``norm``, ``proj`` and the backbone against the fixed text embeddings),
    but in practice the head is used to test.

    Args:
        num_classes (int): Classes of the text classifier.
        in_channels (int): Token width ``D``.
        classifier (str): A text classifier file
            (``tools/zeroshot/build_text_classifier.py``).
        proj_dims (int): Width of the checkpoint's CLIP projection, which
            must equal the classifier's (512 for ``btsp-clip-base``, 768 for
            ``btsp-clip-large``).
        logit_scale (float, optional): Multiplier of the cosines; default:
            the file's ``logit_scale``, else CLIP's 100.
        pool (str): ``'cls'`` (the class token, default) or ``'avg'``.
        norm_eps (float): LayerNorm epsilon (1e-5 bootstrapped).
        **kwargs: ``init_cfg``, ``average_clips``, ``topk``, ``loss_cls``...
            of :class:`SparseFormerHead` / :class:`BaseHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 classifier: str,
                 proj_dims: int = 512,
                 logit_scale: Optional[float] = None,
                 pool: str = 'cls',
                 norm_eps: float = 1e-5,
                 **kwargs) -> None:
        if not proj_dims:
            raise ValueError('ZeroShotHead needs the checkpoint\'s CLIP '
                             'projection: set proj_dims (512 for '
                             'btsp-clip-base, 768 for btsp-clip-large)')
        if kwargs.get('dropout_ratio'):
            raise ValueError('ZeroShotHead takes no dropout_ratio: it has no '
                             'classifier to regularise')
        text = load_text_classifier(classifier)
        check_text_classifier(text, num_classes, proj_dims)
        super().__init__(num_classes, in_channels, pool=pool,
                         proj_dims=proj_dims, norm_eps=norm_eps, **kwargs)
        self.classifier_file = classifier
        self.text_meta = text.meta
        self.logit_scale = float(logit_scale or text.logit_scale
                                 or CLIP_LOGIT_SCALE)
        self.register_buffer('classifier', text.embeddings, persistent=False)

    def build_classifier(self) -> None:
        """No classifier layer: the text embeddings take its place."""
        return None

    @property
    def class_names(self) -> Optional[List[str]]:
        """The label map stored in the classifier file, if any."""
        names = self.text_meta.get('label_map')
        return list(names) if names is not None else None

    def forward(self, x: Tensor, **kwargs) -> Tensor:
        """Tokens ``(B, N, D)`` -> scaled cosines ``(B, num_classes)``."""
        video = F.normalize(self.embed(x), dim=-1)
        return self.logit_scale * video @ self.classifier.to(video.dtype).t()
