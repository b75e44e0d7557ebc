"""What ``tools/train.py`` and ``tools/test.py`` share: reading the config
and building the runner (with the CPU distributed fallback)."""
import os.path as osp

import torch.distributed as dist
from mmengine.config import Config
from mmengine.runner import Runner

from .distributed import setup_cpu_distributed
from .tool_errors import ToolError, report_tool_errors


def load_tool_config(path: str) -> Config:
    """The config at ``path``; a missing file or a syntax error in it ends
    the tool with one line."""
    with report_tool_errors():
        if not osp.isfile(path):
            raise ToolError(f'config file not found: {path}')
        return Config.fromfile(path)


def build_tool_runner(cfg: Config) -> Runner:
    """The runner of ``cfg`` (``runner_type`` from MMAction2's ``RUNNERS``
    when set), after the gloo set-up of a distributed run without CUDA,
    which it notes in the log."""
    from mmaction.registry import RUNNERS
    gloo_note = setup_cpu_distributed(cfg)
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    if gloo_note:
        runner.logger.info(gloo_note)
    return runner


def finish_distributed() -> None:
    """Wait for every rank, then destroy the process group of a distributed
    run, if any: a gloo group torn down while a peer still talks to it (or
    left to the interpreter's exit) aborts the process ("terminate called
    without an active exception") after the work is done."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
