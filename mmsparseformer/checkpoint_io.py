"""Reading checkpoint files safely, with errors that name the file."""
import os.path as osp
import pickle
import zipfile
from typing import Union

import torch

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
                         map_location: Union[str, torch.device] = 'cpu'
                         ) -> dict:
    """``torch.load`` with ``weights_only=True`` and clear errors.

    mmengine runner checkpoints pickle ``getattr`` (for their
    ``HistoryBuffer`` statistics); it is allowed only for those files.
    """
    if not osp.isfile(path):
        raise CheckpointError(f'Checkpoint file not found: {path}')
    if osp.getsize(path) == 0:
        raise CheckpointError(f'Checkpoint file is empty: {path}')
    try:
        with runner_checkpoint_scope(path):
            return torch.load(path, map_location=map_location,
                              weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f'Refusing to load {path}: it needs globals that are not '
            f'allow-listed for weights_only loading ({err})') from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(
            f'Cannot read checkpoint {path}: the file is corrupt or not a '
            f'PyTorch checkpoint ({type(err).__name__}: {err})') from err
