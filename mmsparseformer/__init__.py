"""mmsparseformer: VideoSparseFormer for MMAction2.

Importing the package applies the compatibility fixes of
:mod:`mmsparseformer.compat` and registers the models, datasets and
transforms in MMAction2's registries.
"""
from .compat import apply_compat_fixes
from .version import __version__

apply_compat_fixes()

from . import engine, models  # noqa: E402,F401  (register into mmaction)

__all__ = ['__version__', 'apply_compat_fixes']
