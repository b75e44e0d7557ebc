"""Report a test run: a table ``model | top-1 | top-5 | GFLOPs/view | views |
params`` and a PNG of top-1 against GFLOPs per video beside MMAction2's
model zoo (read from the metafiles of the installed mmaction2 wheel).

RESULTS is the pickle of ``tools/test.py CONFIG CKPT --dump results.pkl``
or a JSON with ``top1``/``top5`` (or ``acc/top1``/``acc/top5``). GFLOPs
and parameters of a config of this project's model zoo come from
``configs/recognition/videosparseformer/metafile.yml``; other configs (or
a ``--shape``) are counted on CONFIG's model (every op; see
``tools/analysis/get_flops.py``). Views come from the test pipeline.

Example::

    python tools/analysis/report.py CONFIG results.pkl --out-dir report/
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config

from ..analysis.flops import recognizer_flops
from ..analysis.report import (RunRow, ZooEntry, plot_accuracy_vs_gflops,
                               project_model, read_accuracy, read_model_zoo,
                               report_table)
from ..utils.config import ViewProtocol, load_config, read_view_protocol
from .get_flops import add_shape_arg


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config of the tested model')
    parser.add_argument('results', help='test dump (.pkl) or a .json')
    parser.add_argument(
        '--name', help='model name in the table and plot (default: config)')
    add_shape_arg(parser)
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


def run_row(name: str, accuracy: Dict[str, float], config: str,
            cfg: Config, shape: Optional[Tuple[int, int, int]]
            ) -> Tuple[RunRow, ViewProtocol]:
    """The run's table row: its accuracy, and the GFLOPs and parameters of
    the config's metafile entry, else counted on its model."""
    protocol = read_view_protocol(cfg, shape)
    entry = project_model(config) if shape is None else None
    if entry is not None:
        gflops, paper, params = (entry.gflops_per_view,
                                 entry.paper_gflops_per_view, entry.params_m)
    else:
        count = recognizer_flops(cfg, shape).count
        gflops, paper, params = (count.total / 1e9,
                                 count.paper_comparable / 1e9,
                                 count.params / 1e6)
    row = RunRow(name=name, top1=accuracy['top1'], top5=accuracy.get('top5'),
                 gflops_per_view=gflops, paper_gflops_per_view=paper,
                 views=protocol.views, params_m=params)
    return row, protocol


def report_notes(run: RunRow, accuracy: Dict[str, float],
                 protocol: ViewProtocol, zoo: List[ZooEntry],
                 dataset: str) -> str:
    """What the numbers of the table are."""
    notes = (
        f'\nGFLOPs are multiply-accumulates per view. {run.name}: every op '
        'counted (convolutions, linears, norms, attention and adaptive-mixing '
        'matmuls, trilinear sampling); paper-comparable leaves out the mixing '
        'matmuls and counts the sampler as bilinear. Model zoo: FLOPs, '
        f'params and top-1/top-5 from the {len(zoo)} {dataset} entries '
        'of the mmaction2 metafiles (their own counts), views from each '
        'config\'s test pipeline.')
    if 'num_samples' in accuracy:
        notes += (f' {run.name}: {accuracy["num_samples"]} test videos, '
                  f'{protocol.describe()}.')
    return notes


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    name = args.name or osp.splitext(osp.basename(args.config))[0]
    try:
        accuracy = read_accuracy(args.results)
        cfg = load_config(args.config)
        run, protocol = run_row(name, accuracy, args.config, cfg, args.shape)
        zoo = list(read_model_zoo(args.dataset))
    except (FileNotFoundError, KeyError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    head = cfg.model.get('cls_head', {})
    if 'num_classes' in accuracy and head.get('num_classes') not in (
            None, accuracy['num_classes']):
        print(f'warning: the results have {accuracy["num_classes"]} classes, '
              f'the config\'s head {head["num_classes"]}', file=sys.stderr)
    out_dir = args.out_dir or osp.dirname(osp.abspath(args.results))
    os.makedirs(out_dir, exist_ok=True)
    table = report_table(run, [] if args.no_zoo_table else zoo)
    notes = report_notes(run, accuracy, protocol, zoo, args.dataset)
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
