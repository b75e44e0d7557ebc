"""The whole system in one command, on CPU, on a built-in dataset.

``make demo`` runs this script. It

1. generates Synthetic Motion (once; later runs reuse it): mp4 clips whose
   six classes only motion tells apart (``tools/data/synthetic``);
2. trains VideoSparseFormer-nano on 8-frame clips with ``tools/train.py``,
   and the same recipe on single-frame clips (the control: it cannot see
   motion, so it should stay near chance);
3. tests both with ``tools/test.py --dump``;
4. reports top-1 against GFLOPs with ``tools/analysis/report.py``;
5. recognises a few clips with ``tools/infer.py``;
6. draws where the tokens look with ``tools/visualize_tokens.py``;

and prints where every artefact is (also in ``<work-dir>/summary.json``).

Examples::

    python tools/demo.py                      # the full demo (a few minutes)
    python tools/demo.py --quick --work-dir /tmp/demo   # smoke test (CI)
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import resource
import subprocess
import sys
import time
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(ROOT, 'configs', 'recognition', 'videosparseformer')
VIDEO_CONFIG = osp.join(
    CONFIG_DIR,
    'videosparseformer-nano_1xb16-8x1x1-3e_synthetic-motion-rgb.py')
CONTROL_CONFIG = osp.join(
    CONFIG_DIR,
    'videosparseformer-nano_1xb16-1x1x1-3e_synthetic-motion-rgb.py')

#: Dataset sizes and schedule of the full demo and of the --quick smoke test.
FULL = dict(num_train=2000, num_val=240, num_test=240, max_epochs=None,
            infer_clips=6)
QUICK = dict(num_train=24, num_val=12, num_test=12, max_epochs=1,
             infer_clips=2)

#: Lines of a tool's output worth showing live (all of it goes to its log).
SHOW = re.compile(r'Epoch\(train\)|acc/top1|Traceback|^\w*Error|^error:|'
                  r'^warning:|^\S+\.mp4 \(|^\s+\d\. |recognised|Results '
                  r'written|^Plot:|^\| |[Ww]rote ')


#: The time stamp and logger name that mmengine puts before each line.
MMENGINE_PREFIX = re.compile(r'^\d+/\d+ [\d:]+ - mmengine - \w+ - ')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train, test, report and visualise VideoSparseFormer on '
        'the built-in Synthetic Motion dataset')
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'demo'),
                        help='where every output goes')
    parser.add_argument('--data-root', default=osp.join('data', 'synthetic'),
                        help='where the dataset is generated (or reused)')
    parser.add_argument('--quick', action='store_true',
                        help='tiny data and one epoch: checks that every '
                        'step works, not that the model learns')
    parser.add_argument('--no-control', action='store_true',
                        help='skip the single-frame control')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the dataset and of training')
    parser.add_argument('--num-workers', type=int, default=2,
                        help='processes that generate the dataset')
    return parser.parse_args(argv)


class Step:
    """Runs one tool as a subprocess, logs it, times it (wall and CPU)."""

    def __init__(self, work_dir: str) -> None:
        self.log_dir = osp.join(work_dir, 'logs')
        os.makedirs(self.log_dir, exist_ok=True)
        self.timings: Dict[str, dict] = {}

    def run(self, name: str, args: List[str]) -> str:
        """Run ``python args...``; show progress lines, keep the full output
        in ``logs/<name>.log``; return the output. Exits on failure."""
        log_path = osp.join(self.log_dir, f'{name}.log')
        command = [sys.executable] + args
        shown = ' '.join(filter(None, (_short(arg) for arg in args)))
        print(f'\n==> [{name}] python {shown}', flush=True)
        start = time.perf_counter()
        cpu_start = _children_cpu()
        lines = []
        env = dict(os.environ, PYTHONUNBUFFERED='1')
        with open(log_path, 'w') as log, subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True) as process:
            log.write(' '.join(command) + '\n\n')
            for line in process.stdout:
                log.write(line)
                lines.append(line)
                if SHOW.search(line):
                    line = MMENGINE_PREFIX.sub('', line.rstrip())
                    print('    ' + line[:160], flush=True)
            returncode = process.wait()
        wall = time.perf_counter() - start
        cpu = _children_cpu() - cpu_start
        self.timings[name] = dict(wall_s=round(wall, 1), cpu_s=round(cpu, 1))
        if returncode:
            print(''.join(lines[-30:]), file=sys.stderr)
            sys.exit(f'demo: step {name!r} failed (exit {returncode}); full '
                     f'output in {log_path}')
        print(f'    done in {wall:.1f} s (CPU {cpu:.1f} s); log: {log_path}',
              flush=True)
        return ''.join(lines)


def _short(arg: str) -> str:
    """An argument as shown on the console: paths relative to the
    repository, dataset paths of --cfg-options left out."""
    if '_dataloader.dataset.' in arg:
        return ''
    if osp.isabs(arg) and arg.startswith(ROOT + os.sep):
        return osp.relpath(arg, ROOT)
    return arg


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tool(path: str) -> Optional[str]:
    """Absolute path of a tool of this repository, or None (with a note)
    if this checkout does not have it."""
    full = osp.join(ROOT, path)
    if osp.isfile(full):
        return full
    print(f'\n==> NOTE: {path} is not in this checkout; skipping its step.')
    return None


def data_options(dataset: dict) -> List[str]:
    """--cfg-options that point a synthetic config at ``dataset``."""
    options = []
    for loader, split in (('train_dataloader', 'train'),
                          ('val_dataloader', 'val'),
                          ('test_dataloader', 'test')):
        options += [
            f'{loader}.dataset.ann_file={dataset["ann_files"][split]}',
            f'{loader}.dataset.data_prefix.video='
            f'{dataset["video_dirs"][split]}'
        ]
    return options


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint mmengine saved last in ``work_dir``."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            path = f.read().strip()
        if osp.isfile(path):
            return path
    found = sorted(glob.glob(osp.join(work_dir, 'epoch_*.pth')),
                   key=osp.getmtime)
    if not found:
        raise FileNotFoundError(f'No checkpoint in {work_dir}')
    return found[-1]


def read_top1(output: str) -> Optional[float]:
    """The last ``acc/top1`` that a train or test log printed (in %)."""
    values = re.findall(r'acc/top1: ([0-9.]+)', output)
    return round(float(values[-1]) * 100, 2) if values else None


def main(argv=None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    work_dir = osp.abspath(args.work_dir)
    data_root = osp.abspath(args.data_root)
    os.makedirs(work_dir, exist_ok=True)
    steps = Step(work_dir)
    demo_start = time.perf_counter()
    artefacts: Dict[str, str] = {}
    results: Dict[str, dict] = {}

    # 1. the dataset ------------------------------------------------------
    print(f'==> [data] Synthetic Motion in {data_root}', flush=True)
    start = time.perf_counter()
    sys.path.insert(0, ROOT)
    from mmsparseformer.datasets.synthetic_motion import \
        generate_synthetic_motion
    dataset = generate_synthetic_motion(
        data_root,
        num_train=sizes['num_train'],
        num_val=sizes['num_val'],
        num_test=sizes['num_test'],
        seed=args.seed,
        num_workers=args.num_workers)
    steps.timings['data'] = dict(
        wall_s=round(time.perf_counter() - start, 1),
        generated=dataset['generated'])
    print(f'    {"generated" if dataset["generated"] else "reused"}: '
          f'{sizes["num_train"]} train / {sizes["num_val"]} val / '
          f'{sizes["num_test"]} test clips, classes '
          f'{dataset["meta"]["renderer"]["classes"]}', flush=True)
    artefacts['dataset'] = data_root

    runs = [('video', VIDEO_CONFIG)]
    if not args.no_control:
        runs.append(('control', CONTROL_CONFIG))
    options = data_options(dataset) + [f'randomness.seed={args.seed}']
    if sizes['max_epochs']:
        options += [f'train_cfg.max_epochs={sizes["max_epochs"]}']

    # 2. train -------------------------------------------------------------
    train_py = tool('tools/train.py')
    for name, config in runs:
        run_dir = osp.join(work_dir, name)
        results[name] = dict(config=osp.relpath(config, ROOT),
                             work_dir=run_dir)
        if train_py:
            output = steps.run(f'train_{name}', [
                train_py, config, '--work-dir', run_dir, '--cfg-options'
            ] + options)
            results[name]['val_top1'] = read_top1(output)
            results[name]['checkpoint'] = last_checkpoint(run_dir)

    # 3. test --------------------------------------------------------------
    test_py = tool('tools/test.py')
    for name, config in runs:
        run = results[name]
        if test_py and 'checkpoint' in run:
            run['dump'] = osp.join(run['work_dir'], 'test_results.pkl')
            output = steps.run(f'test_{name}', [
                test_py, config, run['checkpoint'], '--work-dir',
                run['work_dir'], '--dump', run['dump'], '--cfg-options'
            ] + options)
            run['test_top1'] = read_top1(output)

    # 4. report ------------------------------------------------------------
    report_py = tool('tools/analysis/report.py')
    for name, config in runs:
        run = results[name]
        if report_py and 'dump' in run:
            run['report_dir'] = osp.join(work_dir, 'report', name)
            steps.run(f'report_{name}', [
                report_py, config, run['dump'], '--name',
                f'VSF-nano {name}', '--dataset', 'Synthetic Motion',
                '--no-zoo-table', '--out-dir', run['report_dir']
            ])

    # 5. inference on a few test clips -------------------------------------
    infer_py = tool('tools/infer.py')
    video = results['video']
    with open(dataset['ann_files']['test']) as f:
        test_lines = [line.split() for line in f.read().splitlines()]
    clips = [
        osp.join(dataset['video_dirs']['test'], name)
        for name, _ in test_lines[:sizes['infer_clips']]
    ]
    if infer_py and 'checkpoint' in video:
        video['infer'] = osp.join(work_dir, 'infer.json')
        steps.run('infer', [
            infer_py, VIDEO_CONFIG, video['checkpoint'], *clips, '--topk',
            '2', '--label-map', dataset['label_map'], '--out',
            video['infer'], '--device', 'cpu'
        ])

    # 6. token visualisation -----------------------------------------------
    vis_py = tool('tools/visualize_tokens.py')
    if vis_py and 'checkpoint' in video:
        video['tokens'] = osp.join(work_dir, 'tokens', 'tokens.gif')
        os.makedirs(osp.dirname(video['tokens']), exist_ok=True)
        steps.run('visualize_tokens', [
            vis_py, VIDEO_CONFIG, video['checkpoint'], clips[0], '--out',
            video['tokens'], '--device', 'cpu', '--height', '192'
        ])

    total = time.perf_counter() - demo_start
    summary = dict(
        quick=args.quick,
        total_wall_s=round(total, 1),
        total_cpu_s=round(_children_cpu() + resource.getrusage(
            resource.RUSAGE_SELF).ru_utime, 1),
        steps=steps.timings,
        runs=results,
        dataset=dict(root=data_root, meta=dataset['meta']))
    summary_path = osp.join(work_dir, 'summary.json')
    with open(summary_path, 'w') as f:
        json.dump(summary, f, indent=2)
    print_summary(summary, summary_path, dataset)
    return 0


def print_summary(summary: dict, path: str, dataset: dict) -> None:
    runs = summary['runs']
    print('\n' + '=' * 72)
    print(f'Demo finished in {summary["total_wall_s"]:.0f} s '
          f'(CPU {summary["total_cpu_s"]:.0f} s).')
    chance = 100 / len(dataset['meta']['renderer']['classes'])
    for name, run in runs.items():
        frames = '8 frames' if name == 'video' else '1 frame (control)'
        print(f'  {name:<8} {frames:<18} test top-1: '
              f'{run.get("test_top1", "-")} % (chance {chance:.1f} %)')
    video, control = runs['video'], runs.get('control', {})
    if summary['quick']:
        print('  (--quick: one epoch on a few clips; the numbers only show '
              'that every step ran)')
    elif 'test_top1' in video and 'test_top1' in control:
        print(f'  The tubes read motion: {video["test_top1"]:.1f} % with 8 '
              f'frames against {control["test_top1"]:.1f} % from single '
              'frames, which cannot tell the classes apart.')
    print('\nArtefacts:')
    print(f'  dataset            {dataset["root"]}')
    print(f'  label map          {dataset["label_map"]}')
    for name, run in runs.items():
        print(f'  {name} run{"":<{10 - len(name)}} {run["work_dir"]}')
        for key, label in (('checkpoint', 'checkpoint'),
                           ('dump', 'test dump'),
                           ('report_dir', 'report')):
            if key in run:
                print(f'    {label:<16} {run[key]}')
        if 'report_dir' in run:
            print(f'    {"plot":<16} '
                  f'{osp.join(run["report_dir"], "top1_vs_gflops.png")}')
    video = runs['video']
    if 'infer' in video:
        print(f'  inference          {video["infer"]}')
    if 'tokens' in video:
        print(f'  token animation    {video["tokens"]}')
        print(f'  token sheet        {video["tokens"][:-4]}.png')
    print(f'  logs               {osp.join(osp.dirname(path), "logs")}')
    print(f'  summary            {path}')


if __name__ == '__main__':
    sys.exit(main())
