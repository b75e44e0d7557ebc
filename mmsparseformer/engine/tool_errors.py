"""Errors of the command-line tools that a user can fix, said in one line.

``tools/train.py`` and ``tools/test.py`` run their work inside
:func:`report_tool_errors`: a :class:`ToolError`, an unregistered ``type``
in the config, or a checkpoint that cannot be read ends the tool with one
message (which key, which file) and exit status 1 instead of a traceback.
Any other exception propagates unchanged.
"""
import contextlib
import os.path as osp
import pickle
import re
import sys
import types
import zipfile
from typing import Any, Iterator, List, Optional

import torch
from mmengine.config import Config

from ..checkpoint_io import CheckpointError
from ..datasets import UnreadableVideoError

#: mmengine's message for a type that is not in a registry.
_NOT_REGISTERED = re.compile(
    r'(?P<type>[\w.]+) is not in the (?P<registry>[\w:.]+) registry')
#: Exceptions ``torch.load`` raises for a file it cannot read.
_LOAD_ERRORS = (RuntimeError, EOFError, ValueError, OSError,
                pickle.UnpicklingError, zipfile.BadZipFile)


class ToolError(Exception):
    """A problem with the tool's input, with a message for the user."""


def is_remote(path: str) -> bool:
    """Whether a checkpoint path is a URL (``http://``, ``s3://`` ...)."""
    return '://' in path


def check_checkpoint_file(path: str, what: str = 'checkpoint') -> None:
    """Check, without loading it, that ``path`` looks like a readable
    PyTorch checkpoint; raise :class:`CheckpointError` naming the file.

    Catches a missing path, a directory, an empty file, and a file that is
    neither a complete zip archive (``torch.save``'s format; a truncated
    save loses the zip directory at the end) nor a legacy pickle.
    """
    if is_remote(path):
        return
    if not osp.exists(path):
        raise CheckpointError(f'{what} file not found: {path}')
    if not osp.isfile(path):
        raise CheckpointError(f'{what} path is not a file: {path}')
    if osp.getsize(path) == 0:
        raise CheckpointError(f'{what} file is empty: {path}')
    if zipfile.is_zipfile(path):
        try:  # reads the pickle opcodes only, not the tensors
            torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception as err:
            raise CheckpointError(
                f'Cannot read {what} {path}: the zip archive is damaged '
                f'({type(err).__name__}: {err})') from err
        return
    with open(path, 'rb') as f:
        head = f.read(2)
    if head[:1] != b'\x80':  # pickle protocol >= 2 (legacy torch.save)
        raise CheckpointError(
            f'Cannot read {what} {path}: the file is corrupt or truncated '
            '(neither a complete zip archive written by torch.save nor a '
            'legacy pickle)')


def _type_keys(node: Any, type_name: str, prefix: str = '') -> List[str]:
    """Key paths (``model.backbone.type``) where ``type == type_name``."""
    found = []
    if isinstance(node, dict):
        if node.get('type') == type_name:
            found.append(f'{prefix}.type' if prefix else 'type')
        for key, value in node.items():
            child = f'{prefix}.{key}' if prefix else str(key)
            found += _type_keys(value, type_name, child)
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            found += _type_keys(value, type_name, f'{prefix}[{index}]')
    return found


def unregistered_type_error(err: KeyError, cfg: Config,
                            config_file: str) -> Optional[ToolError]:
    """A :class:`ToolError` for mmengine's "X is not in the Y registry",
    naming the config keys that ask for ``X``; ``None`` for other errors."""
    match = _NOT_REGISTERED.search(str(err.args[0]) if err.args else '')
    if match is None:
        return None
    type_name, registry = match['type'], match['registry']
    keys = _type_keys(cfg.to_dict(), type_name)
    where = (', '.join(f'{key}={type_name!r}' for key in keys)
             if keys else f'type {type_name!r} (not written in the config)')
    return ToolError(
        f'{where} in {config_file}: {type_name!r} is not registered in the '
        f'{registry} registry. Check the spelling; if the type comes from '
        "another package, import it in the config with custom_imports = "
        "dict(imports=['<package>'], allow_failed_imports=False).")


def _loading_file(tb: Optional[types.TracebackType]) -> Optional[str]:
    """The file ``torch.load`` was reading when the traceback was raised."""
    path = None
    while tb is not None:
        frame = tb.tb_frame
        if (frame.f_code.co_name == 'load' and frame.f_code.co_filename
                .replace('\\', '/').endswith('torch/serialization.py')):
            source = frame.f_locals.get('f')
            if isinstance(source, str):
                path = source
        tb = tb.tb_next
    return path


def checkpoint_load_error(err: BaseException) -> Optional[CheckpointError]:
    """A :class:`CheckpointError` naming the file for an exception that
    ``torch.load`` raised; ``None`` for exceptions raised elsewhere."""
    if not isinstance(err, _LOAD_ERRORS):
        return None
    path = _loading_file(err.__traceback__)
    if path is None:
        return None
    if isinstance(err, pickle.UnpicklingError) and 'Weights only' in str(err):
        reason = [line.strip() for line in str(err).splitlines()
                  if 'Unsupported global' in line]
        return CheckpointError(
            f'Refusing to load checkpoint {path}: it needs globals that are '
            'not allow-listed for weights_only loading'
            + (f' ({reason[0]})' if reason else ''))
    return CheckpointError(
        f'Cannot read checkpoint {path}: the file is corrupt or not a '
        f'PyTorch checkpoint ({type(err).__name__}: '
        f'{str(err).splitlines()[0] if str(err) else ""})')


@contextlib.contextmanager
def report_tool_errors(cfg: Optional[Config] = None,
                       config_file: str = '',
                       prog: Optional[str] = None) -> Iterator[None]:
    """Turn the user-fixable errors raised inside into one line on stderr
    and ``SystemExit(1)``."""
    try:
        yield
    except (ToolError, CheckpointError) as err:
        _exit_with(prog, str(err))
    except UnreadableVideoError as err:
        # raised in a dataloader worker, the message carries the worker's
        # traceback; its last line is the error itself
        _exit_with(prog, str(err).strip().splitlines()[-1])
    except KeyError as err:
        translated = (unregistered_type_error(err, cfg, config_file)
                      if cfg is not None else None)
        if translated is None:
            raise
        _exit_with(prog, str(translated))
    except _LOAD_ERRORS as err:
        translated = checkpoint_load_error(err)
        if translated is None:
            raise
        _exit_with(prog, str(translated))


def _exit_with(prog: Optional[str], message: str) -> None:
    prog = prog or osp.basename(sys.argv[0])
    print(f'{prog}: error: {message}', file=sys.stderr, flush=True)
    raise SystemExit(1)
