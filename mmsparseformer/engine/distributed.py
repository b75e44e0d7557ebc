"""Distributed training without CUDA: the gloo fallback of the tools.

On a CUDA machine ``tools/train.py`` and ``tools/test.py`` leave everything
to mmengine (nccl, one GPU per process). Without CUDA two things of
mmengine's distributed path fail (``docs/model.md``, "Environment
notes"):

* ``mmengine.dist.init_dist`` pins each process to a GPU with
  ``torch.cuda.set_device`` before it creates the process group, and the
  config's backend is ``nccl``;
* the runner wraps the model in ``MMDistributedDataParallel`` with
  ``device_ids=[LOCAL_RANK]``, which DDP rejects for a CPU module.

:func:`setup_cpu_distributed` initialises a gloo process group before the
runner is built (the runner then finds it initialised and skips its own)
and sets ``device_ids=None`` for the DDP wrapper.
"""
import contextlib
import copy
from typing import Iterator, Optional

import torch
from mmengine.config import Config
from mmengine.dist import init_dist, is_distributed
from mmengine.registry import MODEL_WRAPPERS
from mmengine.utils.dl_utils import set_multi_processing
from torch.nn.parallel import DistributedDataParallel

GLOO_MESSAGE = ('CUDA is not available: the {world_size} processes of this '
                'run communicate over gloo on the CPU (the config asked for '
                '{backend!r}), and MMDistributedDataParallel wraps the model '
                'with device_ids=None.')


def needs_cpu_distributed(launcher: str) -> bool:
    """Whether a run with this launcher needs the gloo fallback."""
    return launcher != 'none' and not torch.cuda.is_available()


@contextlib.contextmanager
def _without_device_pinning() -> Iterator[None]:
    """Make ``torch.cuda.set_device`` a no-op: there is no GPU to pin to."""
    set_device = torch.cuda.set_device
    torch.cuda.set_device = lambda device: None
    try:
        yield
    finally:
        torch.cuda.set_device = set_device


def init_gloo_process_group(launcher: str,
                            dist_cfg: Optional[dict] = None) -> None:
    """Create the default process group with gloo through mmengine's
    ``init_dist``, so that its launcher logic (``pytorch``: torchrun's
    environment, ``slurm``: ``SLURM_*`` variables, ``mpi``) is reused."""
    if is_distributed():
        return
    kwargs = dict(dist_cfg or {})
    kwargs.pop('backend', None)
    with _without_device_pinning():
        init_dist(launcher, backend='gloo', **kwargs)


def cpu_model_wrapper_cfg(cfg: Config) -> Optional[dict]:
    """``model_wrapper_cfg`` for a CPU module: ``device_ids=None`` for the
    DDP wrappers; other wrappers are left as the config has them."""
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        return dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper = copy.deepcopy(wrapper)
    wrapper_type = wrapper.get('type', 'MMDistributedDataParallel')
    if isinstance(wrapper_type, str):
        wrapper_type = MODEL_WRAPPERS.get(wrapper_type)
    if isinstance(wrapper_type, type) and issubclass(wrapper_type,
                                                     DistributedDataParallel):
        wrapper['device_ids'] = None
    return wrapper


def setup_cpu_distributed(cfg: Config) -> Optional[str]:
    """Prepare a distributed run on a machine without CUDA.

    Does nothing (returns ``None``) when ``cfg.launcher`` is ``'none'`` or
    CUDA is available. Otherwise initialises gloo, adapts ``cfg`` (the
    model wrapper, and ``env_cfg.dist_cfg.backend`` so that the dumped
    config says what ran) and returns a line for the log.
    """
    launcher = cfg.get('launcher', 'none')
    if not needs_cpu_distributed(launcher):
        return None
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    requested = dist_cfg.get('backend', 'nccl')
    # what the runner does before it initialises the process group
    # (otherwise init_dist picks 'spawn' and the runner switches it back)
    set_multi_processing(**env_cfg.get('mp_cfg', {}), distributed=True)
    init_gloo_process_group(launcher, dist_cfg)
    dist_cfg['backend'] = 'gloo'
    cfg.model_wrapper_cfg = cpu_model_wrapper_cfg(cfg)
    return GLOO_MESSAGE.format(
        world_size=torch.distributed.get_world_size(), backend=requested)
