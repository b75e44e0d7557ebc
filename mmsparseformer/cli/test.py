"""``tools/test.py``: MMAction2's test tool, same flags and behaviour,
with what :mod:`.train` adds (this package, gloo without CUDA, one-line
errors), ``--show-dir`` drawing clips (``ClipVisualizationHook``) and a
``--dump`` that must be a pickle."""
import argparse
from typing import List, Optional

from mmengine.config import Config

from ..engine import (ToolError, add_runner_args, build_test_runner,
                      check_checkpoint_file, finish_distributed,
                      load_tool_config, parse_runner_args,
                      report_tool_errors, set_work_dir)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='MMAction2 test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--dump',
        type=str,
        help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument(
        '--show-dir',
        help='directory where the visualization images will be saved.')
    parser.add_argument(
        '--show',
        action='store_true',
        help='whether to display the prediction results in a window.')
    parser.add_argument(
        '--interval',
        type=int,
        default=1,
        help='visualize per interval samples.')
    parser.add_argument(
        '--wait-time',
        type=float,
        default=2,
        help='display time of every window. (second)')
    add_runner_args(parser)
    return parse_runner_args(parser, argv)


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Merge CLI arguments to config."""
    # -------------------- visualization --------------------
    if args.show or (args.show_dir is not None):
        # MMAction2's base runtime has no visualization hook; add the one
        # that also draws clips (NCTHW inputs).
        cfg.default_hooks.setdefault('visualization',
                                     dict(type='ClipVisualizationHook'))
        cfg.default_hooks.visualization.enable = True
        cfg.default_hooks.visualization.show = args.show
        cfg.default_hooks.visualization.wait_time = args.wait_time
        cfg.default_hooks.visualization.out_dir = args.show_dir
        cfg.default_hooks.visualization.interval = args.interval

    # -------------------- Dump predictions --------------------
    if args.dump is not None:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise ToolError('The dump file must be a pkl file (.pkl or '
                            f'.pickle), got --dump {args.dump}')
        dump_metric = dict(type='DumpResults', out_file_path=args.dump)
        if isinstance(cfg.test_evaluator, (list, tuple)):
            cfg.test_evaluator = list(cfg.test_evaluator)
            cfg.test_evaluator.append(dump_metric)
        else:
            cfg.test_evaluator = [cfg.test_evaluator, dump_metric]

    return cfg


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    cfg = load_tool_config(args.config)

    with report_tool_errors(cfg, args.config):
        cfg = merge_args(cfg, args)
        cfg.launcher = args.launcher
        if args.cfg_options is not None:
            cfg.merge_from_dict(args.cfg_options)

        # work_dir is determined in this priority: CLI > segment in file >
        # filename
        set_work_dir(cfg, args.work_dir, args.config)

        check_checkpoint_file(args.checkpoint)
        # MMAction2 sets cfg.load_from; an official SparseFormer file is
        # converted (and inflated) for the config's model instead
        runner = build_test_runner(cfg, args.checkpoint)

        # start testing
        runner.test()
        finish_distributed()


if __name__ == '__main__':
    main()
