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

#: The SparseFormer paper's Kinetics-400 GFLOPs per view (32x224x224,
#: 8 replicates), for comparison only.
PAPER_GFLOPS = {'tiny': 22., 'small': 38., 'base': 74.}
PAPER_PROTOCOL = dict(shape=(32, 224, 224), replicates=8)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=3,
        metavar=('T', 'H', 'W'),
        help='clip shape of one view (default: from the test pipeline)')
    parser.add_argument(
        '--max-depth',
        type=int,
        default=4,
        help='depth of the per-module table (default 4)')
    parser.add_argument('--json', help='also write the numbers to this file')
    return parser.parse_args(argv)


def paper_reference(cfg, shape) -> dict:
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


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    import mmsparseformer  # noqa: F401  (registers the models)
    from mmsparseformer.analysis import load_config, recognizer_flops
    cfg = load_config(args.config)
    try:
        result = recognizer_flops(cfg, args.shape)
    except KeyError as err:
        print(f'error: {err.args[0]}', file=sys.stderr)
        return 1
    count, protocol = result.count, result.protocol
    views = protocol.views
    g = 1e9
    print(f'Config: {args.config}')
    print(f'Input of one view: {"x".join(map(str, count.input_shape))}; '
          f'test protocol: {protocol.describe()}')
    print(f'Parameters: {count.params / 1e6:.2f} M')
    print('\nGFLOPs are multiply-accumulates (GMACs), MMAction2\'s '
          'model-zoo convention.\n')
    print(count.kind_table())
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
        print(f'  {name.ljust(width)}  {macs / g:8.4g}')
    reference = paper_reference(cfg, protocol.shape)
    if reference:
        diff = 100 * (count.paper_comparable / g / reference['gflops'] - 1)
        name = f'paper (SparseFormer-{reference["arch"]}, Kinetics-400)'
        print(f'  {name.ljust(width)}  {reference["gflops"]:8.2f}  '
              f'(paper-comparable differs by {diff:+.1f} %)')
    print(f'\nViews x GFLOPs: {views} x {count.total / g:.4g} = '
          f'{views * count.total / g:.4g} GFLOPs per video '
          f'(paper-comparable: {views * count.paper_comparable / g:.4g})')
    if count.uncounted:
        ops = ', '.join(f'{op} x{n}' for op, n in count.uncounted.items())
        print('\nNot counted (element-wise ops, activations, softmax, '
              f'pooling; MMAction2/fvcore convention): {ops}')
    print('\nPer module (MACs; a unit applied several times counts every '
          'application):')
    print(count.module_table(args.max_depth))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                dict(
                    config=args.config,
                    input_shape=list(count.input_shape),
                    params=count.params,
                    gflops_per_view=count.total / g,
                    paper_comparable_gflops_per_view=count.paper_comparable /
                    g,
                    fvcore_default_gflops_per_view=count.fvcore_default / g,
                    gflops_by_kind={
                        kind: macs / g
                        for kind, macs in count.by_kind.items()
                    },
                    views=views,
                    num_clips=protocol.num_clips,
                    num_crops=protocol.num_crops,
                    paper=reference or None,
                    uncounted_ops=count.uncounted,
                    torch=torch.__version__),
                f,
                indent=2)
        print(f'\nWrote {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
