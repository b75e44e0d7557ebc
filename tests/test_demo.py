"""tools/demo.py: the helpers, and a shortened demo (--quick) that runs every
step end to end and writes every artefact. The steps run in this process
(each tool's ``main``): the wiring, the logs, the summary and the artefacts
are the demo's; a subprocess per step would only add interpreter starts."""
import contextlib
import importlib
import io
import json
import os.path as osp
import pickle

import pytest
from mmengine.config import Config

from mmsparseformer.cli import demo
from mmsparseformer.utils.config import PROJECT_ROOT

ROOT = PROJECT_ROOT


def test_configs_exist_and_differ_only_in_clip_length():
    video = Config.fromfile(demo.VIDEO_CONFIG)
    control = Config.fromfile(demo.CONTROL_CONFIG)
    clip_lens = []
    for cfg in (video, control):
        sample = [step for step in cfg.train_dataloader.dataset.pipeline
                  if step['type'] == 'SampleFrames'][0]
        clip_lens.append(sample['clip_len'])
    assert clip_lens == [8, 1]
    for key in ('model', 'optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert video[key] == control[key], key
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for key in ('ann_file', 'data_prefix'):
            assert video[loader].dataset[key] == control[loader].dataset[key]
        # no flips: a horizontal flip would swap 'left' and 'right'
        types = [step['type'] for step in video[loader].dataset.pipeline]
        assert 'Flip' not in types and types[0] == 'DecordInit'


def test_helpers(tmp_path, capsys):
    assert demo.read_top1('acc/top1: 0.2500 ...\nacc/top1: 0.9875 x') == 98.75
    assert demo.read_top1('no metric here') is None

    with pytest.raises(FileNotFoundError, match='No checkpoint'):
        demo.last_checkpoint(str(tmp_path))
    (tmp_path / 'epoch_1.pth').write_bytes(b'')
    assert demo.last_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_1.pth')
    (tmp_path / 'epoch_3.pth').write_bytes(b'')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_3.pth'))
    assert demo.last_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_3.pth')

    dataset = dict(
        ann_files={s: f'/d/{s}.txt' for s in ('train', 'val', 'test')},
        video_dirs={s: f'/d/videos_{s}' for s in ('train', 'val', 'test')})
    options = demo.data_options(dataset)
    assert 'test_dataloader.dataset.ann_file=/d/test.txt' in options
    assert 'train_dataloader.dataset.data_prefix.video=/d/videos_train' in \
        options and len(options) == 6

    assert demo.tool('tools/train.py') == osp.join(ROOT, 'tools', 'train.py')
    assert demo.tool('tools/no_such_tool.py') is None
    assert 'tools/no_such_tool.py is not in this checkout' in \
        capsys.readouterr().out


def test_subprocess_launch_streams_lines_and_the_exit_status():
    lines = []
    code = demo.launch_subprocess(
        ['-c', 'print("one"); print("two"); raise SystemExit(3)'],
        lines.append)
    assert (code, lines) == (3, ['one\n', 'two\n'])


def launch_in_process(args, on_line) -> int:
    """Run ``tools/<...>/<name>.py`` as ``mmsparseformer.cli.<name>.main``
    in this process, its output passed on line by line."""
    name = osp.splitext(osp.basename(args[0]))[0]
    tool = importlib.import_module(f'mmsparseformer.cli.{name}')
    output = io.StringIO()
    with contextlib.redirect_stdout(output), \
            contextlib.redirect_stderr(output):
        try:
            code = tool.main([str(arg) for arg in args[1:]]) or 0
        except SystemExit as exit:
            code = exit.code
    for line in output.getvalue().splitlines(keepends=True):
        on_line(line)
    return code


@pytest.mark.slow
def test_quick_demo_writes_every_artefact(tmp_path, capsys):
    work_dir, data_root = tmp_path / 'demo', tmp_path / 'data'
    assert demo.main(['--quick', '--work-dir', str(work_dir),
                      '--data-root', str(data_root)],
                     launch=launch_in_process) == 0
    out = capsys.readouterr().out
    assert 'NOTE' not in out  # every tool exists: no step skipped

    with open(work_dir / 'summary.json') as f:
        summary = json.load(f)
    assert summary['quick'] is True
    assert set(summary['steps']) == {
        'data', 'train_video', 'train_control', 'test_video', 'test_control',
        'report_video', 'report_control', 'infer', 'visualize_tokens'
    }
    for step, timing in summary['steps'].items():
        assert timing['wall_s'] > 0, step
        if step != 'data':
            assert osp.getsize(work_dir / 'logs' / f'{step}.log') > 0

    with open(data_root / 'label_map_synthetic_motion.txt') as f:
        classes = f.read().split()
    assert classes == ['right', 'left', 'down', 'up']
    for name in ('video', 'control'):
        run = summary['runs'][name]
        assert osp.isfile(run['checkpoint']) and run['checkpoint'] in out
        assert 0 <= run['test_top1'] <= 100
        with open(run['dump'], 'rb') as f:
            predictions = pickle.load(f)
        assert len(predictions) == 12  # the quick test split
        report = osp.join(run['report_dir'], 'report.md')
        with open(report) as f:
            assert f'VSF-nano {name}' in f.read()
        plot = osp.join(run['report_dir'], 'top1_vs_gflops.png')
        with open(plot, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
        assert plot in out

    with open(summary['runs']['video']['infer']) as f:
        inference = json.load(f)
    assert inference['num_videos'] == 2 and inference['num_failed'] == 0
    for entry in inference['results']:
        assert len(entry['topk']) == 2
        assert {top['name'] for top in entry['topk']} <= set(classes)

    tokens = summary['runs']['video']['tokens']
    assert osp.getsize(tokens) > 0 and osp.getsize(tokens[:-4] + '.png') > 0
    assert tokens in out and str(work_dir / 'summary.json') in out
