"""``tools/train.py``: MMAction2's tools/train.py (same flags, same
behaviour) with mmsparseformer imported, the gloo fallback for distributed
runs without CUDA, and one-line errors for the mistakes a user can fix
(see :mod:`mmsparseformer.engine`)."""
import argparse
from typing import List, Optional

from mmengine.config import Config
from mmengine.device import get_device
from mmengine.runner import find_latest_checkpoint

from ..engine import (ToolError, add_runner_args, build_tool_runner,
                      check_checkpoint_file, finish_distributed,
                      load_tool_config, parse_runner_args,
                      report_tool_errors, set_work_dir)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a action recognizer')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='If specify checkpoint path, resume from it, while if not '
        'specify, try to auto resume from the latest checkpoint '
        'in the work directory.')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training (needs CUDA)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='whether not to evaluate the checkpoint during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='whether to auto scale the learning rate according to the '
        'actual batch size and the original batch size.')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument(
        '--diff-rank-seed',
        action='store_true',
        help='whether or not set different seeds for different ranks')
    parser.add_argument(
        '--deterministic',
        action='store_true',
        help='whether to set deterministic options for CUDNN backend.')
    add_runner_args(parser)
    return parse_runner_args(parser, argv)


def enable_amp(cfg: Config, config_file: str) -> None:
    """``--amp``: AmpOptimWrapper with dynamic loss scaling, where a device
    supports it."""
    if get_device() == 'cpu':
        raise ToolError(
            '--amp needs a CUDA (or NPU/MLU/MUSA) device: mmengine\'s '
            'AmpOptimWrapper is built on torch.cuda.amp and this machine '
            'has none. Drop --amp to train in float32 on the CPU.')
    optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_wrapper not in ['OptimWrapper', 'AmpOptimWrapper']:
        raise ToolError(
            '`--amp` is not supported for the custom optimizer wrapper '
            f'type `{optim_wrapper}` (optim_wrapper.type in {config_file}).')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Merge CLI arguments to config."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    cfg.launcher = args.launcher

    # work_dir is determined in this priority: CLI > segment in file > filename
    set_work_dir(cfg, args.work_dir, args.config)

    # enable automatic-mixed-precision training
    if args.amp is True:
        enable_amp(cfg, args.config)

    # resume training
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    # enable auto scale learning rate
    if args.auto_scale_lr:
        if not isinstance(cfg.get('auto_scale_lr'), dict) or \
                'base_batch_size' not in cfg.auto_scale_lr:
            raise ToolError(
                '--auto-scale-lr needs `auto_scale_lr = dict(enable=False, '
                'base_batch_size=...)` in the config (the total batch size '
                f'its learning rate was set for); {args.config} has none.')
        cfg.auto_scale_lr.enable = True

    # set random seeds
    if cfg.get('randomness', None) is None:
        cfg.randomness = dict(
            seed=args.seed,
            diff_rank_seed=args.diff_rank_seed,
            deterministic=args.deterministic)

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    return cfg


def check_checkpoints(cfg: Config) -> None:
    """Fail early, naming the file, when the checkpoint to resume from or
    to load is missing or unreadable."""
    if cfg.get('resume', False) and cfg.get('load_from') is None:
        latest = find_latest_checkpoint(cfg.work_dir)
        if latest is not None:
            check_checkpoint_file(
                latest, f'latest checkpoint of {cfg.work_dir} (recorded in '
                'its last_checkpoint file)')
    elif cfg.get('load_from') is not None:
        what = 'resume checkpoint' if cfg.get('resume') else 'load_from'
        check_checkpoint_file(cfg.load_from, what)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    cfg = load_tool_config(args.config)

    with report_tool_errors(cfg, args.config):
        # merge cli arguments to config
        cfg = merge_args(cfg, args)
        check_checkpoints(cfg)
        runner = build_tool_runner(cfg)

        # start training
        runner.train()
        finish_distributed()


if __name__ == '__main__':
    main()
