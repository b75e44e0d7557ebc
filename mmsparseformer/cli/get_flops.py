"""Parameters and GFLOPs (multiply-accumulates) of one view of a config's
recognizer, every op counted, beside the paper-comparable figure, plus
views x GFLOPs from the config's test pipeline.

Example::

    python tools/analysis/get_flops.py \\
        configs/recognition/videosparseformer/<config>.py
    python tools/analysis/get_flops.py CONFIG --shape 8 112 112 --json f.json
"""
import argparse
import json
import sys
from typing import List, Optional, Tuple

import torch
from mmengine.config import Config, DictAction

from ..analysis.flops import FlopCount, RecognizerFlops, recognizer_flops
from ..utils.config import load_config

#: The SparseFormer paper's Kinetics-400 GFLOPs per view (32x224x224,
#: 8 replicates), for comparison only.
PAPER_GFLOPS = {'tiny': 22., 'small': 38., 'base': 74.}
PAPER_PROTOCOL = dict(shape=(32, 224, 224), replicates=8)
G = 1e9


def add_shape_arg(parser: argparse.ArgumentParser) -> None:
    """``--shape T H W``: the clip of one view, instead of the pipeline's."""
    parser.add_argument(
        '--shape',
        type=int,
        nargs=3,
        metavar=('T', 'H', 'W'),
        help='clip shape of one view (default: from the test pipeline)')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file')
    add_shape_arg(parser)
    parser.add_argument(
        '--max-depth',
        type=int,
        default=4,
        help='depth of the per-module table (default 4)')
    parser.add_argument('--json', help='also write the numbers to this file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys (key=value), e.g. '
        'model.cls_head.classifier=classes.pt for a zero-shot config')
    return parser.parse_args(argv)


def paper_reference(cfg: Config, shape: Tuple[int, int, int]) -> dict:
    """The paper's figure when the config is a named arch at the paper's
    Kinetics protocol, else an empty dict."""
    backbone = cfg.model.get('backbone', {})
    arch = backbone.get('arch')
    if backbone.get('type') != 'VideoSparseFormer' or \
            not isinstance(arch, str) or arch not in PAPER_GFLOPS:
        return {}
    if tuple(shape) != PAPER_PROTOCOL['shape'] or backbone.get(
            'replicates', 8) != PAPER_PROTOCOL['replicates']:
        return {}
    return dict(arch=arch, gflops=PAPER_GFLOPS[arch])


def print_per_view(count: FlopCount, reference: dict) -> None:
    """GFLOPs per view under the three conventions, and the paper's."""
    print('\nGFLOPs per view:')
    rows = [
        ('every op (the count above)', count.total),
        ('paper-comparable (no mixing matmuls, sampler 4 taps/value)',
         count.paper_comparable),
        ('fvcore default handles (also no attention matmuls)',
         count.fvcore_default),
    ]
    width = max(len(name) for name, _ in rows)
    for name, macs in rows:
        print(f'  {name.ljust(width)}  {macs / G:8.4g}')
    if reference:
        diff = 100 * (count.paper_comparable / G / reference['gflops'] - 1)
        name = f'paper (SparseFormer-{reference["arch"]}, Kinetics-400)'
        print(f'  {name.ljust(width)}  {reference["gflops"]:8.2f}  '
              f'(paper-comparable differs by {diff:+.1f} %)')


def print_report(config: str, result: RecognizerFlops, reference: dict,
                 max_depth: int) -> None:
    """The counts by kind, per view, per video and per module."""
    count, protocol = result.count, result.protocol
    views = protocol.views
    print(f'Config: {config}')
    print(f'Input of one view: {"x".join(map(str, count.input_shape))}; '
          f'test protocol: {protocol.describe()}')
    print(f'Parameters: {count.params / 1e6:.2f} M')
    print('\nGFLOPs are multiply-accumulates (GMACs), MMAction2\'s '
          'model-zoo convention.\n')
    print(count.kind_table())
    print_per_view(count, reference)
    print(f'\nViews x GFLOPs: {views} x {count.total / G:.4g} = '
          f'{views * count.total / G:.4g} GFLOPs per video '
          f'(paper-comparable: {views * count.paper_comparable / G:.4g})')
    if count.uncounted:
        ops = ', '.join(f'{op} x{n}' for op, n in count.uncounted.items())
        print('\nNot counted (element-wise ops, activations, softmax, '
              f'pooling; MMAction2/fvcore convention): {ops}')
    print('\nPer module (MACs; a unit applied several times counts every '
          'application):')
    print(count.module_table(max_depth))


def write_json(path: str, config: str, result: RecognizerFlops,
               reference: dict) -> None:
    """The numbers of the report as JSON."""
    count, protocol = result.count, result.protocol
    with open(path, 'w') as f:
        json.dump(
            dict(
                config=config,
                input_shape=list(count.input_shape),
                params=count.params,
                gflops_per_view=count.total / G,
                paper_comparable_gflops_per_view=count.paper_comparable / G,
                fvcore_default_gflops_per_view=count.fvcore_default / G,
                gflops_by_kind={
                    kind: macs / G
                    for kind, macs in count.by_kind.items()
                },
                views=protocol.views,
                num_clips=protocol.num_clips,
                num_crops=protocol.num_crops,
                paper=reference or None,
                uncounted_ops=count.uncounted,
                torch=torch.__version__),
            f,
            indent=2)
    print(f'\nWrote {path}')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    try:
        result = recognizer_flops(cfg, args.shape)
    except KeyError as err:
        print(f'error: {err.args[0]}', file=sys.stderr)
        return 1
    reference = paper_reference(cfg, result.protocol.shape)
    print_report(args.config, result, reference, args.max_depth)
    if args.json:
        write_json(args.json, args.config, result, reference)
    return 0
