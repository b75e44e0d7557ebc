"""Reading checkpoint files safely, with errors that name the file, and
the small pieces every checkpoint user shares: the state dict inside a
file, and which file a ``pretrained`` / ``init_cfg`` pair asks for.

The ``torch.serialization`` calls here (``safe_globals``,
``get_unsafe_globals_in_checkpoint`` ...) exist from torch 2.5, and the
``weights_only`` default they serve from 2.6: the floor of
``requirements/runtime.txt`` (checked by :mod:`mmsparseformer.compat`).
"""
import os.path as osp
import pickle
import zipfile
from collections import OrderedDict
from typing import Dict, Optional, Union

import torch
from torch import Tensor

#: Globals that only an mmengine runner checkpoint needs.
RUNNER_MARKER = 'mmengine.logging.history_buffer.HistoryBuffer'


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not fit the model."""


def is_runner_checkpoint(path: str) -> bool:
    """Whether the file is an mmengine runner checkpoint (by its globals,
    read without unpickling anything)."""
    # torch reports only the globals that are not allow-listed, and
    # mmsparseformer.compat allow-lists the marker: list them as torch
    # sees them with no user allow-list.
    serialization = torch.serialization
    allowed = serialization.get_safe_globals()
    serialization.clear_safe_globals()
    try:
        unsafe = serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip checkpoint; torch.load will say more
        return False
    finally:
        serialization.add_safe_globals(allowed)
    return RUNNER_MARKER in unsafe


def runner_checkpoint_scope(path: str):
    """A context in which ``torch.load`` may unpickle ``getattr`` if (and
    only if) ``path`` is an mmengine runner checkpoint."""
    extra = [getattr] if is_runner_checkpoint(path) else []
    return torch.serialization.safe_globals(extra)


def load_checkpoint_file(path: str,
                         map_location: Union[str, torch.device] = 'cpu',
                         mmap: bool = False) -> dict:
    """``torch.load`` with ``weights_only=True`` and clear errors.

    mmengine runner checkpoints pickle ``getattr`` (for their
    ``HistoryBuffer`` statistics); it is allowed only for those files.
    ``mmap`` maps the tensors instead of reading them (zip files only, as
    ``torch.save`` writes them), for a look at the keys.
    """
    if not osp.isfile(path):
        raise CheckpointError(f'Checkpoint file not found: {path}')
    if osp.getsize(path) == 0:
        raise CheckpointError(f'Checkpoint file is empty: {path}')
    try:
        with runner_checkpoint_scope(path):
            return torch.load(path, map_location=map_location,
                              weights_only=True,
                              mmap=mmap and zipfile.is_zipfile(path))
    except pickle.UnpicklingError as err:
        if 'Unsupported global' in str(err):
            raise CheckpointError(
                f'Refusing to load {path}: it needs globals that are not '
                f'allow-listed for weights_only loading ({err})') from err
        raise not_a_checkpoint(path, err) from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise not_a_checkpoint(path, err) from err


def not_a_checkpoint(path: str, err: Exception) -> CheckpointError:
    """The error for a file torch cannot read as a checkpoint at all."""
    return CheckpointError(
        f'Cannot read checkpoint {path}: the file is corrupt or not a '
        f'PyTorch checkpoint ({type(err).__name__}: {err})')


def unwrap_state_dict(checkpoint: dict, path: str = '') -> Dict[str, Tensor]:
    """The state dict inside a loaded checkpoint: under ``state_dict`` (an
    mmengine runner checkpoint) or ``model``, or the bare dict; only its
    tensors, without the ``module.`` prefix of a DDP save.

    Raises:
        CheckpointError: not a dict, or no tensors in it (naming ``path``).
    """
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'{path}: expected a dict checkpoint, got '
                              f'{type(checkpoint).__name__}')
    for key in ('state_dict', 'model'):
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    state = OrderedDict((k, v) for k, v in checkpoint.items()
                        if isinstance(v, Tensor))
    if not state:
        raise CheckpointError(f'{path}: no tensors found in the checkpoint '
                              f'(top-level keys: {list(checkpoint)[:8]})')
    if all(k.startswith('module.') for k in state):  # saved from DDP
        state = OrderedDict((k[len('module.'):], v) for k, v in state.items())
    return state


def pretrained_checkpoint(pretrained: Optional[str] = None,
                          init_cfg: Optional[dict] = None) -> Optional[str]:
    """The checkpoint a module's ``pretrained`` or ``init_cfg`` names:
    ``pretrained`` first, else the ``checkpoint`` of a
    ``dict(type='Pretrained', ...)`` ``init_cfg``; ``None`` for neither."""
    if pretrained:
        return pretrained
    if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
        return init_cfg.get('checkpoint')
    return None
