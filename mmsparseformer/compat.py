"""Compatibility fixes for the pinned MMAction2 stack on today's torch.

``import mmsparseformer`` calls :func:`apply_compat_fixes` once. Every fix
checks first whether it is needed and does nothing otherwise; each one is
tested in ``tests/test_compat.py``.

1. ``mmaction2`` 1.2.0's wheel ships without ``mmaction/models/localizers/drn``
   (upstream issue open-mmlab/mmaction2#2714), so ``import mmaction.models``
   and with it every registry build fails. An empty stand-in package is
   registered instead; building ``DRN`` raises an error that says why.
2. torch >= 2.6 loads checkpoints with ``weights_only=True``. Checkpoints that
   mmengine's runner writes hold a few more globals (its ``HistoryBuffer``
   and numpy arrays/scalars), so ``--resume`` and ``tools/test.py`` fail.
   Exactly those globals are allow-listed; ``weights_only`` stays on. The
   builtin ``getattr`` (pickled by ``HistoryBuffer`` for its statistics
   methods) is never allowed globally: mmengine's loader of local files
   (used by ``Runner.resume``, ``load_from``, ``init_recognizer`` and
   ``Pretrained`` inits) allows it only while it reads a file that is a
   runner checkpoint, recognised from its globals without unpickling.
3. With ``mmcv-lite`` (no compiled ``mmcv.ops``) every ``import mmaction``
   warns that ``MultiScaleDeformableAttention`` cannot be imported; no
   recognizer uses it, so that one warning is silenced. Likewise the
   deprecation warning of ``pkg_resources``, which mmengine imports and
   setuptools < 81 keeps for it (the pin exists for that reason).
4. ``mmaction2`` 1.2.0 takes an installed ``transformers`` (>= 4.28) for
   its whole "multimodal" extra and then imports its VindLU models, which
   also need ``timm`` (and with it ``torchvision``, which does not load
   beside the pinned CPU torch). With the ``zeroshot`` extra installed and
   no ``timm``, ``import mmaction.models`` would fail; MMAction2's
   placeholders for the VindLU models are registered instead (building
   one raises MMAction2's own "requires extra multi-modal dependencies").

Before any fix, :func:`check_torch_version` refuses a torch older than
:data:`MIN_TORCH`, the first with every ``torch.serialization`` API that
:mod:`mmsparseformer.checkpoint_io` calls and with ``weights_only`` loading
by default (the floor of ``requirements/runtime.txt``).

Third-party imports stay inside the functions: this module runs before
``mmaction`` may be imported and before ``pkg_resources``' warning is
filtered.
"""
import importlib.util
import os.path as osp
import re
import sys
import types
import warnings
from typing import List, Optional

import torch

from .checkpoint_io import runner_checkpoint_scope

#: The oldest torch the package supports (``requirements/runtime.txt``).
MIN_TORCH = (2, 6)
DRN_MODULE = 'mmaction.models.localizers.drn'
MULTIMODAL_MODULE = 'mmaction.models.multimodal'
_applied: Optional[List[str]] = None


class MissingDRN:
    """Stand-in for MMAction2's DRN localizer, absent from the 1.2.0 wheel."""

    def __init__(self, *args, **kwargs) -> None:
        raise ImportError(
            'DRN is not available: the mmaction2 1.2.0 wheel does not ship '
            'mmaction/models/localizers/drn (upstream issue '
            'open-mmlab/mmaction2#2714). mmsparseformer registers this '
            'stand-in so that the other models build; install mmaction2 from '
            'source to use DRN.')


def _mmaction_dir() -> str:
    spec = importlib.util.find_spec('mmaction')
    if spec is None or spec.origin is None:
        raise ImportError('mmaction2 is not installed')
    return osp.dirname(spec.origin)


def drn_is_missing() -> bool:
    """Whether the installed mmaction2 lacks the DRN localizer package."""
    drn_file = osp.join(_mmaction_dir(), 'models', 'localizers', 'drn',
                        'drn.py')
    return not osp.exists(drn_file) and DRN_MODULE not in sys.modules


def patch_missing_drn() -> bool:
    """Register an importable stand-in for the missing DRN package."""
    if not drn_is_missing():
        return False
    from mmaction.registry import MODELS

    package = types.ModuleType(DRN_MODULE)
    package.__path__ = []  # a package, so that ``.drn.drn`` resolves
    module = types.ModuleType(f'{DRN_MODULE}.drn')
    module.DRN = MissingDRN
    package.drn = module
    sys.modules[DRN_MODULE] = package
    sys.modules[f'{DRN_MODULE}.drn'] = module
    MODELS.register_module(name='DRN', module=MissingDRN, force=True)
    return True


def multimodal_import_fails() -> bool:
    """Whether MMAction2 would import its VindLU models (transformers is
    installed) although their ``timm`` is not, and has not done so yet."""
    if MULTIMODAL_MODULE in sys.modules:
        return False
    from mmaction.utils import dependency
    return dependency.WITH_MULTIMODAL and \
        importlib.util.find_spec('timm') is None


def patch_multimodal_without_timm() -> bool:
    """Let ``mmaction.models`` import with transformers but no timm."""
    if not multimodal_import_fails():
        return False
    from mmaction.utils import dependency
    dependency.WITH_MULTIMODAL = False
    return True


def runner_checkpoint_globals() -> list:
    """The globals an mmengine runner checkpoint needs, besides ``getattr``.

    Measured on an mmengine 0.10.7 checkpoint with numpy 2: the message
    hub's ``HistoryBuffer`` objects and the numpy arrays and scalars they and
    the runtime info hold.
    """
    import numpy as np
    from mmengine.logging import HistoryBuffer
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    return [
        HistoryBuffer, _reconstruct, scalar, np.ndarray, np.dtype,
        type(np.dtype(np.float64)),
        type(np.dtype(np.int64))
    ]


def loads_weights_only_by_default() -> bool:
    """Whether this torch loads checkpoints with ``weights_only=True``."""
    from mmengine.utils import digit_version
    return (hasattr(torch.serialization, 'add_safe_globals')
            and digit_version(torch.__version__) >= digit_version('2.6.0'))


def load_local_checkpoint(filename: str, map_location=None):
    """mmengine's loader of local checkpoint files, with ``weights_only``
    on and ``getattr`` allowed only for runner checkpoints."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    with runner_checkpoint_scope(filename):
        return torch.load(filename, map_location=map_location,
                          weights_only=True)


def patch_weights_only_loading() -> bool:
    """Let runner checkpoints load under ``weights_only=True``."""
    if not loads_weights_only_by_default():
        return False
    from mmengine.runner.checkpoint import CheckpointLoader
    torch.serialization.add_safe_globals(runner_checkpoint_globals())
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_local_checkpoint, force=True)
    return True


def mmcv_ops_missing() -> bool:
    """Whether the installed mmcv has no compiled ops (mmcv-lite)."""
    return importlib.util.find_spec('mmcv') is not None and \
        importlib.util.find_spec('mmcv._ext') is None


def silence_mmcv_lite_warning() -> bool:
    """Hide mmcv-lite's import warning about deformable attention."""
    if not mmcv_ops_missing():
        return False
    warnings.filterwarnings(
        'ignore',
        message='Fail to import ``MultiScaleDeformableAttention``',
        category=UserWarning)
    return True


def silence_pkg_resources_warning() -> bool:
    """Hide setuptools' deprecation warning for mmengine's pkg_resources."""
    if importlib.util.find_spec('pkg_resources') is None:
        return False
    warnings.filterwarnings(
        'ignore',
        message='pkg_resources is deprecated as an API',
        category=UserWarning)
    return True


def check_torch_version(version: Optional[str] = None) -> None:
    """Refuse a torch older than :data:`MIN_TORCH` (its release number;
    pre-releases and local builds of a supported release pass)."""
    version = version or torch.__version__
    release = tuple(int(v) for v in re.findall(r'\d+', version)[:2])
    if release < MIN_TORCH:
        floor = '.'.join(map(str, MIN_TORCH))
        raise ImportError(
            f'mmsparseformer needs torch>={floor} (found {version}): it '
            'loads checkpoints with weights_only=True and allow-lists '
            "mmengine's runner globals through torch.serialization APIs that "
            f'older torch lacks. Install torch>={floor},<2.15.')


def apply_compat_fixes() -> List[str]:
    """Apply every needed fix once; returns the names of those applied."""
    global _applied
    check_torch_version()
    if _applied is None:
        _applied = []
        if silence_pkg_resources_warning():
            _applied.append('pkg_resources_warning')
        if silence_mmcv_lite_warning():
            _applied.append('mmcv_lite_warning')
        if patch_multimodal_without_timm():
            _applied.append('multimodal_without_timm')
        if patch_missing_drn():
            _applied.append('missing_drn')
        if patch_weights_only_loading():
            _applied.append('weights_only_runner_checkpoints')
    return list(_applied)
