"""Report a test run: a table ``model | top-1 | top-5 | GFLOPs/view | views |
params`` and a PNG of top-1 against GFLOPs per video beside MMAction2's
model zoo (read from the metafiles of the installed mmaction2 wheel).

RESULTS is the pickle of ``tools/test.py CONFIG CKPT --dump results.pkl``
or a JSON with ``top1``/``top5`` (or ``acc/top1``/``acc/top5``). GFLOPs
and parameters are counted on CONFIG's model (every op; see
``tools/analysis/get_flops.py``), views come from its test pipeline.

Example::

    python tools/analysis/report.py CONFIG results.pkl --out-dir report/
"""
import argparse
import os
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config of the tested model')
    parser.add_argument('results', help='test dump (.pkl) or a .json')
    parser.add_argument(
        '--name', help='model name in the table and plot (default: config)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=3,
        metavar=('T', 'H', 'W'),
        help='clip shape of one view (default: from the test pipeline)')
    parser.add_argument(
        '--dataset',
        default='Kinetics-400',
        help='model-zoo results to compare with (metafile Dataset)')
    parser.add_argument(
        '--out-dir',
        help='where report.md and top1_vs_gflops.png go (default: the '
        'folder of RESULTS)')
    parser.add_argument(
        '--no-zoo-table',
        action='store_true',
        help='table with the run only (the plot still shows the zoo)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import mmsparseformer  # noqa: F401  (compat fixes, registries)
    from mmsparseformer.analysis import load_config, recognizer_flops
    from mmsparseformer.analysis.report import (RunRow,
                                                plot_accuracy_vs_gflops,
                                                read_accuracy, read_model_zoo,
                                                report_table)
    try:
        accuracy = read_accuracy(args.results)
        cfg = load_config(args.config)
        flops = recognizer_flops(cfg, args.shape)
        zoo = read_model_zoo(args.dataset)
    except (FileNotFoundError, KeyError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    head = cfg.model.get('cls_head', {})
    if 'num_classes' in accuracy and head.get('num_classes') not in (
            None, accuracy['num_classes']):
        print(f'warning: the results have {accuracy["num_classes"]} classes, '
              f'the config\'s head {head["num_classes"]}', file=sys.stderr)
    name = args.name or osp.splitext(osp.basename(args.config))[0]
    run = RunRow(
        name=name,
        top1=accuracy['top1'],
        top5=accuracy.get('top5'),
        gflops_per_view=flops.count.total / 1e9,
        paper_gflops_per_view=flops.count.paper_comparable / 1e9,
        views=flops.protocol.views,
        params_m=flops.count.params / 1e6)
    out_dir = args.out_dir or osp.dirname(osp.abspath(args.results))
    os.makedirs(out_dir, exist_ok=True)
    table = report_table(run, [] if args.no_zoo_table else zoo)
    notes = (
        f'\nGFLOPs are multiply-accumulates per view. {name}: every op '
        'counted (convolutions, linears, norms, attention and adaptive-mixing '
        'matmuls, trilinear sampling); paper-comparable leaves out the mixing '
        'matmuls and counts the sampler as bilinear. Model zoo: FLOPs, '
        f'params and top-1/top-5 from the {len(zoo)} {args.dataset} entries '
        'of the mmaction2 metafiles (their own counts), views from each '
        'config\'s test pipeline.')
    if 'num_samples' in accuracy:
        notes += (f' {name}: {accuracy["num_samples"]} test videos, '
                  f'{flops.protocol.describe()}.')
    table_path = osp.join(out_dir, 'report.md')
    with open(table_path, 'w') as f:
        f.write(table + '\n' + notes + '\n')
    plot_path = osp.join(out_dir, 'top1_vs_gflops.png')
    plotted, skipped = plot_accuracy_vs_gflops(run, zoo, plot_path,
                                               args.dataset)
    print(table)
    print(notes)
    print(f'\nPlot: {plot_path} ({plotted} zoo models; {skipped} without '
          'FLOPs or views left out). Table: ' + table_path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
