"""What ``tools/train.py`` and ``tools/test.py`` share: their common
arguments, reading the config, the work dir and building the runner (with
the CPU distributed fallback)."""
import argparse
import os
import os.path as osp
from typing import List, Optional

import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mmaction.registry import RUNNERS
from ..apis.recognizer import load_recognizer_weights
from ..checkpoint_io import CheckpointError
from ..models.checkpoint import official_file_layout
from .distributed import setup_cpu_distributed
from .tool_errors import ToolError, is_remote, report_tool_errors


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """MMAction2's ``--cfg-options``, ``--launcher`` and ``--local-rank``."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser,
                      argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse ``argv``; ``LOCAL_RANK`` defaults to ``--local-rank`` (as
    MMAction2's tools do)."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def set_work_dir(cfg: Config, work_dir: Optional[str],
                 config_file: str) -> None:
    """The work dir: ``--work-dir``, else the config's, else
    ``./work_dirs/<config name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_file))[0])


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
    gloo_note = setup_cpu_distributed(cfg)
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    if gloo_note:
        runner.logger.info(gloo_note)
    return runner


def official_layout(checkpoint: str) -> Optional[str]:
    """The official SparseFormer layout of a local checkpoint file; None
    for other checkpoints, remote ones and files it cannot read (which
    mmengine's loader then reports as usual)."""
    if is_remote(checkpoint):
        return None
    try:
        return official_file_layout(checkpoint)
    except CheckpointError:
        return None


def build_test_runner(cfg: Config, checkpoint: str) -> Runner:
    """The runner of ``tools/test.py``, with ``checkpoint`` loaded.

    A recognizer checkpoint loads as in MMAction2 (``load_from``). An
    official SparseFormer file (image or video, any release layout; e.g.
    the CLIP-bootstrapped image checkpoint of a zero-shot config) cannot
    load that way: it is converted for the config's model and inflated to
    its replicates, then loaded strictly (an error names the keys that do
    not fit).
    """
    layout = official_layout(checkpoint)
    cfg.load_from = None if layout else checkpoint
    runner = build_tool_runner(cfg)
    if layout:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        load_recognizer_weights(model, checkpoint)
        backbone = getattr(model, 'backbone', None)
        runner.logger.info(
            f'Loaded {checkpoint} ({layout} layout, converted for the '
            'model' + (f', inflated to {backbone.replicates} replicates'
                       if layout != 'official_video' else '') + ')')
    return runner


def finish_distributed() -> None:
    """Wait for every rank, then destroy the process group of a distributed
    run, if any: a gloo group torn down while a peer still talks to it (or
    left to the interpreter's exit) aborts the process ("terminate called
    without an active exception") after the work is done."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
