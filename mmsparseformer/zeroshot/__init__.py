"""Zero-shot video classification: text classifiers built from class names
with a CLIP text encoder, for :class:`~mmsparseformer.models.ZeroShotHead`.

Importing this package does not import transformers (the optional extra
``zeroshot``); building a classifier does.
"""
from .builder import (CLIP_EMBED_DIMS, CLIP_MODELS, DEFAULT_TEMPLATES, EXTRA,
                      INSTALL_HINT, ClipTextEncoder, ClipUnavailableError,
                      build_text_classifier, class_embeddings,
                      import_transformers, load_clip_text_encoder, prompts,
                      read_class_names, read_templates)

__all__ = [
    'CLIP_EMBED_DIMS', 'CLIP_MODELS', 'DEFAULT_TEMPLATES', 'EXTRA',
    'INSTALL_HINT', 'ClipTextEncoder', 'ClipUnavailableError',
    'build_text_classifier', 'class_embeddings', 'import_transformers',
    'load_clip_text_encoder', 'prompts', 'read_class_names', 'read_templates'
]
