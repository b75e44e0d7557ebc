"""Clips/s and peak memory of VideoSparseFormer-T beside MMAction2's Video
Swin-T, TimeSformer, X3D-M and MViTv2-S, for inference and a training step.

All models are built from their registry configs (random weights) and run
one view of their own Kinetics test protocol, in this process, on the same
device with the same threads. Prints the measured numbers and their ratios
to VideoSparseFormer-T (wall time, CPU time per clip and peak memory; above
1 means the model is slower or needs more memory).

Examples::

    python tools/analysis/benchmark.py --device cpu --iters 3
    python tools/analysis/benchmark.py --device cuda --iters 20 --warmup 5
    # tiny sizes (every model at 4x32x32), e.g. in CI
    python tools/analysis/benchmark.py --shape 4 32 32 --iters 1 --warmup 0
    # peak memory of a training step with gradient checkpointing
    python tools/analysis/benchmark.py --models VideoSparseFormer-T \
        --cfg-options model.backbone.with_cp=True
    # another model beside them (any MMAction2 config)
    python tools/analysis/benchmark.py --models VideoSparseFormer-T \
        --extra btsp-clip-base=configs/recognition/videosparseformer/\
videosparseformer-btsp-clip-base_clip-pre_8xb8-32x2x1-55e_kinetics400-rgb.py
"""
import argparse
import copy
import json
import sys
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.config import DictAction

from ..analysis.benchmark import (REFERENCE, ModelResult, benchmark_model,
                                  default_vsf_config, environment,
                                  model_specs, ratio_table, results_table,
                                  warm_up_runtime)
from ..apis import check_device
from ..utils.config import load_config


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--models',
        nargs='+',
        help='subset of models (default: all), e.g. VideoSparseFormer-T X3D-M')
    parser.add_argument(
        '--vsf-config',
        help='VideoSparseFormer-T config (default: the repository\'s '
        'configs/recognition/videosparseformer/videosparseformer-tiny_'
        'in1k-pre_8xb8-32x2x1-30e_kinetics400-rgb.py)')
    parser.add_argument(
        '--extra',
        nargs='+',
        default=[],
        metavar='NAME=CONFIG',
        help='more models to benchmark, each a name and its config')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=3,
        metavar=('T', 'H', 'W'),
        help='one shape for every model instead of each test protocol')
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch threads for every model (default: torch\'s default)')
    parser.add_argument(
        '--iters', type=int, default=3, help='timed iterations per phase')
    parser.add_argument(
        '--warmup', type=int, default=1, help='untimed iterations first')
    parser.add_argument(
        '--infer-batch', type=int, default=1, help='clips per forward pass')
    parser.add_argument(
        '--train-batch', type=int, default=2, help='clips per training step')
    parser.add_argument(
        '--no-train', action='store_true', help='skip the training step')
    parser.add_argument('--json', help='also write the results here')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override keys of every benchmarked config, e.g. '
        'model.backbone.with_cp=True (gradient checkpointing)')
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> Tuple[list, str]:
    """The ``(name, config)`` pairs to run and where VideoSparseFormer-T's
    config comes from; ``ValueError`` (and the errors of the model list)
    for bad arguments."""
    if min(args.iters, args.infer_batch, args.train_batch) < 1 or \
            args.warmup < 0:
        raise ValueError('--iters and the batches must be >= 1, --warmup '
                         '>= 0')
    check_device(args.device)
    extra = []
    for item in args.extra:
        name, sep, config = item.partition('=')
        if not sep or not name or not config:
            raise ValueError(f'--extra takes NAME=CONFIG, got {item!r}')
        extra.append((name, config))
    vsf_config = args.vsf_config or default_vsf_config()
    return model_specs(args.models, vsf_config) + extra, vsf_config


def print_setup(args: argparse.Namespace, vsf_source: str) -> dict:
    """Print what the numbers depend on; returns it."""
    env = environment()
    print(f'Device {args.device}, {env["threads"]} torch threads, '
          f'{env["cpu_count"]} CPUs, torch {env["torch"]}; '
          f'{REFERENCE}: {vsf_source}')
    if 'load_average' in env:
        print('Load average before the run: ' +
              ', '.join(f'{x:.2f}' for x in env['load_average']) +
              ' (other processes slow the wall times; CPU times are '
              'printed too)')
    return env


def run_models(args: argparse.Namespace,
               specs: Sequence[Tuple[str, object]]) -> List[ModelResult]:
    """Benchmark every model; a model that fails is reported, not fatal."""
    results = []
    for name, config in specs:
        print(f'Benchmarking {name} ...', flush=True)
        try:
            if args.cfg_options:
                config = copy.deepcopy(load_config(config))
                config.merge_from_dict(args.cfg_options)
            result = benchmark_model(
                name,
                config,
                shape=args.shape,
                device=args.device,
                iters=args.iters,
                warmup=args.warmup,
                infer_batch=args.infer_batch,
                train_batch=args.train_batch,
                train=not args.no_train)
        except Exception as err:  # report the model and go on
            result = ModelResult(
                name=name,
                config=str(config),
                shape=tuple(args.shape or ()),
                params_m=0.,
                error=f'{type(err).__name__}: {err}')
        results.append(result)
    return results


def print_results(args: argparse.Namespace,
                  results: Sequence[ModelResult]) -> None:
    """The measured numbers, their ratios and how they were measured."""
    print()
    print(results_table(results))
    print(f'\nRatios to {REFERENCE} (time per clip and peak memory; above 1:'
          ' slower or more memory):\n')
    print(ratio_table(results))
    print(f'\nInference batch {args.infer_batch}, training batch '
          f'{args.train_batch} (train_step with AdamW); {args.iters} timed '
          f'iterations after {args.warmup} warm-up. CPU s/clip counts all '
          'threads of the process. Peak memory: ' +
          ('torch.cuda.max_memory_allocated' if 'cuda' in args.device else
           'resident-set high-water mark above the resident set before the '
           'model was built') + '.')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        specs, vsf_source = check_args(args)
    except (KeyError, ValueError, RuntimeError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    env = print_setup(args, vsf_source)
    warm_up_runtime(args.device)
    results = run_models(args, specs)
    print_results(args, results)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                dict(
                    environment=env,
                    device=args.device,
                    args=vars(args),
                    results=[r.to_dict() for r in results]),
                f,
                indent=2,
                default=str)
        print(f'Wrote {args.json}')
    return 1 if any(r.error for r in results) else 0
