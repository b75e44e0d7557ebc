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
from typing import Callable, Dict, List, Optional

from ..datasets.synthetic_motion import generate_synthetic_motion
from ..utils.config import PROJECT_CONFIGS, PROJECT_ROOT

ROOT = PROJECT_ROOT
CONFIG_DIR = osp.join(PROJECT_CONFIGS, 'recognition', 'videosparseformer')
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

#: Runs ``python args...`` in the repository, passing every line it prints
#: (stdout and stderr) to the callback as it comes; returns the exit status.
Launch = Callable[[List[str], Callable[[str], None]], int]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
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


def launch_subprocess(args: List[str], on_line: Callable[[str],
                                                         None]) -> int:
    """Run ``python args...`` in the repository as a subprocess, its output
    passed on line by line while it runs."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    with subprocess.Popen(
            [sys.executable] + args, cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True) as process:
        for line in process.stdout:
            on_line(line)
        return process.wait()


class Step:
    """Runs one tool (as a subprocess by default), logs it, times it (wall
    and CPU)."""

    def __init__(self, work_dir: str,
                 launch: Optional[Launch] = None) -> None:
        self.log_dir = osp.join(work_dir, 'logs')
        os.makedirs(self.log_dir, exist_ok=True)
        self.timings: Dict[str, dict] = {}
        self.launch = launch or launch_subprocess

    def run(self, name: str, args: List[str]) -> str:
        """Run ``python args...``; show progress lines, keep the full output
        in ``logs/<name>.log``; return the output. Exits on failure."""
        log_path = osp.join(self.log_dir, f'{name}.log')
        shown = ' '.join(filter(None, (_short(arg) for arg in args)))
        print(f'\n==> [{name}] python {shown}', flush=True)
        start = time.perf_counter()
        cpu_start = _cpu_time()
        lines: List[str] = []
        with open(log_path, 'w') as log:
            log.write(' '.join([sys.executable] + args) + '\n\n')

            def on_line(line: str) -> None:
                log.write(line)
                lines.append(line)
                if SHOW.search(line):
                    line = MMENGINE_PREFIX.sub('', line.rstrip())
                    print('    ' + line[:160], flush=True)

            returncode = self.launch(args, on_line)
        wall = time.perf_counter() - start
        cpu = _cpu_time() - cpu_start
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


def _cpu_time() -> float:
    """CPU seconds of this process and its finished children."""
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                 resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


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


# ------------------------------------------------------------------- steps
class Demo:
    """The demo's steps, sharing the work dir, the runs and the timings."""

    def __init__(self, args: argparse.Namespace,
                 launch: Optional[Launch] = None) -> None:
        self.args = args
        self.sizes = QUICK if args.quick else FULL
        self.work_dir = osp.abspath(args.work_dir)
        self.data_root = osp.abspath(args.data_root)
        os.makedirs(self.work_dir, exist_ok=True)
        self.steps = Step(self.work_dir, launch)
        self.runs = [('video', VIDEO_CONFIG)]
        if not args.no_control:
            self.runs.append(('control', CONTROL_CONFIG))
        self.results: Dict[str, dict] = {}
        self.dataset: dict = {}
        self.options: List[str] = []

    def generate_data(self) -> None:
        """1. Synthetic Motion (once; later runs reuse it)."""
        sizes = self.sizes
        print(f'==> [data] Synthetic Motion in {self.data_root}', flush=True)
        start = time.perf_counter()
        self.dataset = generate_synthetic_motion(
            self.data_root,
            num_train=sizes['num_train'],
            num_val=sizes['num_val'],
            num_test=sizes['num_test'],
            seed=self.args.seed,
            num_workers=self.args.num_workers)
        self.steps.timings['data'] = dict(
            wall_s=round(time.perf_counter() - start, 1),
            generated=self.dataset['generated'])
        print(f'    {"generated" if self.dataset["generated"] else "reused"}: '
              f'{sizes["num_train"]} train / {sizes["num_val"]} val / '
              f'{sizes["num_test"]} test clips, classes '
              f'{self.dataset["meta"]["renderer"]["classes"]}', flush=True)
        self.options = data_options(self.dataset) + [
            f'randomness.seed={self.args.seed}'
        ]
        if sizes['max_epochs']:
            self.options += [f'train_cfg.max_epochs={sizes["max_epochs"]}']

    def train(self) -> None:
        """2. Train the video model and its single-frame control."""
        train_py = tool('tools/train.py')
        for name, config in self.runs:
            run_dir = osp.join(self.work_dir, name)
            self.results[name] = dict(config=osp.relpath(config, ROOT),
                                      work_dir=run_dir)
            if train_py:
                output = self.steps.run(f'train_{name}', [
                    train_py, config, '--work-dir', run_dir, '--cfg-options'
                ] + self.options)
                self.results[name]['val_top1'] = read_top1(output)
                self.results[name]['checkpoint'] = last_checkpoint(run_dir)

    def test(self) -> None:
        """3. Test both, dumping the predictions."""
        test_py = tool('tools/test.py')
        for name, config in self.runs:
            run = self.results[name]
            if test_py and 'checkpoint' in run:
                run['dump'] = osp.join(run['work_dir'], 'test_results.pkl')
                output = self.steps.run(f'test_{name}', [
                    test_py, config, run['checkpoint'], '--work-dir',
                    run['work_dir'], '--dump', run['dump'], '--cfg-options'
                ] + self.options)
                run['test_top1'] = read_top1(output)

    def report(self) -> None:
        """4. Top-1 against GFLOPs."""
        report_py = tool('tools/analysis/report.py')
        for name, config in self.runs:
            run = self.results[name]
            if report_py and 'dump' in run:
                run['report_dir'] = osp.join(self.work_dir, 'report', name)
                self.steps.run(f'report_{name}', [
                    report_py, config, run['dump'], '--name',
                    f'VSF-nano {name}', '--dataset', 'Synthetic Motion',
                    '--no-zoo-table', '--out-dir', run['report_dir']
                ])

    def test_clips(self) -> List[str]:
        """The first test clips, for inference and visualisation."""
        with open(self.dataset['ann_files']['test']) as f:
            test_lines = [line.split() for line in f.read().splitlines()]
        return [
            osp.join(self.dataset['video_dirs']['test'], name)
            for name, _ in test_lines[:self.sizes['infer_clips']]
        ]

    def infer(self, clips: List[str]) -> None:
        """5. Recognise a few test clips."""
        infer_py = tool('tools/infer.py')
        video = self.results['video']
        if infer_py and 'checkpoint' in video:
            video['infer'] = osp.join(self.work_dir, 'infer.json')
            self.steps.run('infer', [
                infer_py, VIDEO_CONFIG, video['checkpoint'], *clips,
                '--topk', '2', '--label-map', self.dataset['label_map'],
                '--out', video['infer'], '--device', 'cpu'
            ])

    def visualize(self, clips: List[str]) -> None:
        """6. Draw where the tokens look."""
        vis_py = tool('tools/visualize_tokens.py')
        video = self.results['video']
        if vis_py and 'checkpoint' in video:
            video['tokens'] = osp.join(self.work_dir, 'tokens', 'tokens.gif')
            os.makedirs(osp.dirname(video['tokens']), exist_ok=True)
            self.steps.run('visualize_tokens', [
                vis_py, VIDEO_CONFIG, video['checkpoint'], clips[0], '--out',
                video['tokens'], '--device', 'cpu', '--height', '192'
            ])

    def summary(self, total_s: float) -> dict:
        """What ran, how long each step took, and where everything is."""
        return dict(
            quick=self.args.quick,
            total_wall_s=round(total_s, 1),
            total_cpu_s=round(_cpu_time(), 1),
            steps=self.steps.timings,
            runs=self.results,
            dataset=dict(root=self.data_root, meta=self.dataset['meta']))


def main(argv: Optional[List[str]] = None,
         launch: Optional[Launch] = None) -> int:
    """Run the demo; ``launch`` runs each tool (default: a subprocess)."""
    demo = Demo(parse_args(argv), launch)
    start = time.perf_counter()
    demo.generate_data()
    demo.train()
    demo.test()
    demo.report()
    clips = demo.test_clips()
    demo.infer(clips)
    demo.visualize(clips)
    summary = demo.summary(time.perf_counter() - start)
    summary_path = osp.join(demo.work_dir, 'summary.json')
    with open(summary_path, 'w') as f:
        json.dump(summary, f, indent=2)
    print_summary(summary, summary_path, demo.dataset)
    return 0


def print_summary(summary: dict, path: str, dataset: dict) -> None:
    """The test accuracies beside chance, and every artefact."""
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
    print_artefacts(runs, path, dataset)


def print_artefacts(runs: Dict[str, dict], path: str, dataset: dict) -> None:
    """Where every output of the demo is."""
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
