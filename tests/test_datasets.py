"""RobustVideoDataset and UnreadableVideoHook: unreadable videos are replaced
and counted in training, and name the file (or are skipped and listed) in
testing."""
import copy
import glob
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import init_default_scope

import mmsparseformer  # noqa: F401  (registers the datasets and hooks)
from mmaction.registry import DATASETS, HOOKS
from mmsparseformer.datasets import (UNREADABLE_VIDEOS_KEY,
                                     UnreadableVideoError,
                                     UnreadableVideoHook)
from mmsparseformer.testing import MICRO_ARCH, write_lines, write_video

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
K400_TINY = osp.join(
    ROOT, 'configs', 'recognition', 'videosparseformer',
    'videosparseformer-tiny_in1k-pre_8xb8-32x2x1-30e_kinetics400-rgb.py')

SMALL_PIPELINE = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=8, frame_interval=2, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]


@pytest.fixture(autouse=True)
def mmaction_scope():
    init_default_scope('mmaction')


def make_videos(root: str, num_good: int = 3, size=(32, 32)) -> dict:
    """``good_*.mp4`` (12 frames), ``short.mp4`` (3 frames), ``corrupt.mp4``
    (random bytes) and ``empty.mp4`` (0 bytes) under ``root``."""
    rng = np.random.default_rng(0)
    names = {}
    for index in range(num_good):
        name = f'good_{index}.mp4'
        write_video(
            osp.join(root, name),
            rng.integers(0, 256, (12, *size, 3), dtype=np.uint8))
        names[name] = index % 2
    write_video(
        osp.join(root, 'short.mp4'),
        rng.integers(0, 256, (3, *size, 3), dtype=np.uint8))
    names['short.mp4'] = 1
    with open(osp.join(root, 'corrupt.mp4'), 'wb') as f:
        f.write(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    names['corrupt.mp4'] = 0
    open(osp.join(root, 'empty.mp4'), 'wb').close()
    names['empty.mp4'] = 1
    return names


def write_list(path: str, names: dict) -> str:
    return write_lines(path, [f'{name} {label}' for name, label in
                              names.items()])


def build_dataset(root, ann_file, test_mode=False, **kwargs):
    return DATASETS.build(
        dict(
            type='RobustVideoDataset',
            ann_file=ann_file,
            data_prefix=dict(video=root),
            pipeline=SMALL_PIPELINE,
            test_mode=test_mode,
            **kwargs))


@pytest.fixture
def videos(tmp_path):
    root = str(tmp_path / 'videos')
    os.makedirs(root)
    names = make_videos(root)
    ann_file = write_list(str(tmp_path / 'list.txt'), names)
    return root, ann_file, list(names)


def test_training_replaces_unreadable_and_records_it(videos):
    root, ann_file, names = videos
    dataset = build_dataset(root, ann_file)
    np.random.seed(0)
    for name in ('corrupt.mp4', 'empty.mp4'):
        data = dataset[names.index(name)]
        assert data['inputs'].shape == (1, 3, 8, 32, 32)
        replaced = data['data_samples'].metainfo[UNREADABLE_VIDEOS_KEY]
        assert replaced[0] == osp.join(root, name)
        # a replacement may itself be unreadable; the last try succeeded
        assert set(replaced) <= {
            osp.join(root, 'corrupt.mp4'),
            osp.join(root, 'empty.mp4')
        }
        assert data['data_samples'].gt_label.item() in (0, 1)
    good = dataset[names.index('good_0.mp4')]
    assert UNREADABLE_VIDEOS_KEY not in good['data_samples'].metainfo


def test_short_clip_is_looped(videos):
    """A 3-frame video gives the full 8-frame window by looping
    (MMAction2's SampleFrames), in training and testing."""
    root, ann_file, names = videos
    for test_mode in (False, True):
        dataset = build_dataset(root, ann_file, test_mode=test_mode,
                                skip_unreadable=True)
        index = [osp.basename(dataset.get_data_info(i)['filename'])
                 for i in range(len(dataset))].index('short.mp4')
        data = dataset[index]
        assert data['inputs'].shape == (1, 3, 8, 32, 32)
        assert UNREADABLE_VIDEOS_KEY not in data['data_samples'].metainfo
        frames = data['inputs'][0].permute(1, 0, 2, 3)  # (T, C, H, W)
        distinct = {frame.numpy().tobytes() for frame in frames}
        assert len(distinct) == 3


def test_refetch_is_bounded(tmp_path):
    root = str(tmp_path)
    names = {}
    for index in range(3):
        open(osp.join(root, f'bad_{index}.mp4'), 'wb').close()
        names[f'bad_{index}.mp4'] = 0
    ann_file = write_list(str(tmp_path / 'list.txt'), names)
    dataset = build_dataset(root, ann_file, max_refetch=4)
    with pytest.raises(UnreadableVideoError,
                       match=r'5 videos in a row could not be read'):
        dataset[0]


def test_other_pipeline_errors_are_not_swallowed(videos):
    """Only file-reading transforms make a video 'unreadable': a bug in a
    later transform still stops the run."""
    root, ann_file, names = videos

    def broken(results):
        raise ValueError('bug in a transform')

    dataset = DATASETS.build(
        dict(
            type='RobustVideoDataset',
            ann_file=ann_file,
            data_prefix=dict(video=root),
            pipeline=SMALL_PIPELINE[:3] + [broken]))
    with pytest.raises(ValueError, match='bug in a transform'):
        dataset[names.index('good_0.mp4')]


def test_testing_names_the_unreadable_file(videos):
    root, ann_file, names = videos
    dataset = build_dataset(root, ann_file, test_mode=True)
    assert len(dataset) == len(names)
    assert dataset[names.index('good_1.mp4')]['inputs'].shape[0] == 1
    for name in ('corrupt.mp4', 'empty.mp4'):
        with pytest.raises(UnreadableVideoError) as error:
            dataset[names.index(name)]
        message = str(error.value)
        assert osp.join(root, name) in message
        assert 'skip_unreadable=True' in message


def test_testing_skip_unreadable_decodes_and_lists(videos):
    root, ann_file, names = videos
    dataset = build_dataset(root, ann_file, test_mode=True,
                            skip_unreadable=True, probe_threads=2)
    assert len(dataset) == len(names) - 2
    skipped = dict(dataset.skipped_videos)
    assert set(skipped) == {
        osp.join(root, 'corrupt.mp4'),
        osp.join(root, 'empty.mp4')
    }
    assert 'empty' in skipped[osp.join(root, 'empty.mp4')]
    kept = [osp.basename(dataset.get_data_info(i)['filename'])
            for i in range(len(dataset))]
    assert kept == [n for n in names if n not in ('corrupt.mp4', 'empty.mp4')]
    for index in range(len(dataset)):
        assert dataset[index]['inputs'].shape == (1, 3, 8, 32, 32)


def test_testing_skip_unreadable_from_checker_list(videos, tmp_path):
    """A list from check_videos.py is used as is, without decoding: only
    the listed video is left out (the unlisted empty one stays, and then
    fails when read)."""
    root, ann_file, names = videos
    listed = write_lines(str(tmp_path / 'unreadable.txt'),
                         ['corrupt.mp4\tRuntimeError: Error reading'])
    dataset = build_dataset(root, ann_file, test_mode=True,
                            skip_unreadable=listed)
    assert dataset.skipped_videos == [
        (osp.join(root, 'corrupt.mp4'), 'RuntimeError: Error reading')
    ]
    assert len(dataset) == len(names) - 1
    kept = [osp.basename(dataset.get_data_info(i)['filename'])
            for i in range(len(dataset))]
    with pytest.raises(UnreadableVideoError, match='passed the skip'):
        dataset[kept.index('empty.mp4')]


def test_skip_unreadable_rejects_bad_values(videos):
    root, ann_file, _ = videos
    with pytest.raises(TypeError, match='skip_unreadable'):
        build_dataset(root, ann_file, test_mode=True, skip_unreadable=1)
    with pytest.raises(FileNotFoundError, match='no_such_list'):
        build_dataset(root, ann_file, test_mode=True,
                      skip_unreadable='no_such_list.txt')
    # decoding local files cannot stand for another storage backend
    with pytest.raises(ValueError, match=r"io_backend=\['petrel'\]"):
        DATASETS.build(
            dict(
                type='RobustVideoDataset',
                ann_file=ann_file,
                data_prefix=dict(video=root),
                pipeline=[dict(type='DecordInit', io_backend='petrel')] +
                SMALL_PIPELINE[1:],
                test_mode=True,
                skip_unreadable=True))


class StubRunner:
    """What UnreadableVideoHook uses of a runner."""

    def __init__(self, name, log_file):
        self.logger = MMLogger.get_instance(name, log_file=log_file)
        self.message_hub = MessageHub.get_instance(name)
        self.epoch = 0
        self.iter = 0


def batch_with(*replaced):
    from mmaction.structures import ActionDataSample
    samples = []
    for names in replaced:
        sample = ActionDataSample()
        if names:
            sample.set_metainfo({UNREADABLE_VIDEOS_KEY: tuple(names)})
        samples.append(sample)
    return dict(inputs=[torch.zeros(1)] * len(samples), data_samples=samples)


def test_hook_counts_per_epoch_and_in_total(tmp_path):
    hook = HOOKS.build(dict(type='UnreadableVideoHook'))
    log_file = str(tmp_path / 'hook.log')
    runner = StubRunner('test_hook_counts', log_file)
    hook.before_train(runner)
    hook.after_train_iter(runner, 0, batch_with(['a.mp4'], []))
    hook.after_train_iter(runner, 1, batch_with(['b.mp4', 'a.mp4'], []))
    hook.after_train_epoch(runner)
    runner.epoch = 1
    hook.after_train_iter(runner, 0, batch_with([], ['c.mp4']))
    hook.after_train_epoch(runner)
    runner.epoch = 2
    hook.after_train_epoch(runner)
    hook.after_train(runner)  # nothing left: no line
    # an iteration-based loop has no epochs: after_train summarises
    runner.iter = 7
    hook.after_train_iter(runner, 7, batch_with(['d.mp4']))
    hook.after_train(runner)
    with open(log_file) as f:
        text = f.read()
    assert text.count('Unreadable videos in') == 4
    assert ('Unreadable videos in iterations up to 7: 1 files (1 reads) '
            'replaced by other samples; run total: 4 files (5 reads)') in text
    assert ('Unreadable videos in epoch 1: 2 files (3 reads) replaced by '
            'other samples; run total: 2 files (3 reads)') in text
    assert 'Files: a.mp4, b.mp4' in text
    assert ('Unreadable videos in epoch 2: 1 files (1 reads) replaced by '
            'other samples; run total: 3 files (4 reads)') in text
    assert ('Unreadable videos in epoch 3: 0 files (0 reads) replaced by '
            'other samples; run total: 3 files (4 reads)') in text
    # the totals live in the message hub, which checkpoints keep and
    # --resume restores
    state = runner.message_hub.state_dict()
    resumed_runner = StubRunner('test_hook_counts_resumed', log_file)
    resumed_runner.message_hub.load_state_dict(state)
    resumed = UnreadableVideoHook()
    resumed.before_train(resumed_runner)
    assert resumed.total_reads == 5
    assert resumed.total_files == {'a.mp4', 'b.mp4', 'c.mp4', 'd.mp4'}
    # a fresh run starts from zero
    fresh = UnreadableVideoHook()
    fresh.before_train(StubRunner('test_hook_counts_fresh', log_file))
    assert fresh.total_reads == 0 and not fresh.total_files


# --------------------------------------------------------------- end to end
def k400_runner_cfg(tmp_path, root, ann_file, num_classes=2) -> Config:
    """The K400 tiny config on local files, with the micro model."""
    cfg = Config.fromfile(K400_TINY)
    cfg.model.backbone.update(arch=copy.deepcopy(MICRO_ARCH), pretrained=None)
    cfg.model.cls_head.update(
        in_channels=MICRO_ARCH['cortex_dims'],
        num_classes=num_classes,
        init_cfg=None)
    cfg.work_dir = str(tmp_path / 'work')
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        loader.dataset.update(ann_file=ann_file, data_prefix=dict(video=root))
        loader.update(num_workers=2, persistent_workers=False)
    cfg.train_dataloader.batch_size = 2
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.train_cfg.max_epochs = 1
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    cfg.launcher = 'none'
    return cfg


def read_log(work_dir: str) -> str:
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    assert len(logs) == 1, logs
    with open(logs[0]) as f:
        return f.read()


@pytest.mark.slow
def test_k400_training_epoch_survives_and_counts(tmp_path):
    """The K400 train pipeline (32x2x1, random-resized 224 crops) on mp4
    files, one corrupt, one empty and one of 3 frames, with 2 dataloader
    worker processes: the epoch completes and the training log counts the
    two bad files; a resumed second epoch continues the run total."""
    from mmengine.runner import Runner
    root = str(tmp_path / 'videos')
    os.makedirs(root)
    names = make_videos(root, num_good=3)
    ann_file = write_list(str(tmp_path / 'train.txt'), names)
    cfg = k400_runner_cfg(tmp_path, root, ann_file)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.epoch == 1 and runner.iter == 3  # 6 samples, batch 2
    log = read_log(cfg.work_dir)
    for name in ('corrupt.mp4', 'empty.mp4'):
        assert f'Unreadable video {osp.join(root, name)}' in log
    assert 'Unreadable videos in epoch 1: 2 files' in log
    assert 'run total: 2 files' in log
    assert osp.join(root, 'short.mp4') not in log
    assert osp.isfile(osp.join(cfg.work_dir, 'epoch_1.pth'))
    reads = int(re.search(r'epoch 1: 2 files \((\d+) reads\)', log).group(1))
    assert reads >= 2

    # --resume continues the run total
    for log_dir in glob.glob(osp.join(cfg.work_dir, '2*')):
        shutil.rmtree(log_dir)
    cfg.train_cfg.max_epochs = 2
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.epoch == 2
    log = read_log(cfg.work_dir)
    match = re.search(r'epoch 2: 2 files \((\d+) reads\) replaced by other '
                      r'samples; run total: 2 files \((\d+) reads\)', log)
    assert match, log
    assert int(match.group(2)) == reads + int(match.group(1))


@pytest.mark.slow
def test_k400_test_strict_and_skip(tmp_path):
    """tools/test.py semantics on the K400 config (4 clips x 3 crops): an
    unreadable video is an error naming it; with skip_unreadable=True the
    test completes on the readable ones and the log lists the skipped."""
    from mmengine.runner import Runner
    root = str(tmp_path / 'videos')
    os.makedirs(root)
    rng = np.random.default_rng(0)
    for index in range(2):
        write_video(
            osp.join(root, f'good_{index}.mp4'),
            rng.integers(0, 256, (10, 24, 32, 3), dtype=np.uint8))
    with open(osp.join(root, 'corrupt.mp4'), 'wb') as f:
        f.write(b'\x00' * 100)
    ann_file = write_lines(
        str(tmp_path / 'val.txt'),
        ['good_0.mp4 0', 'corrupt.mp4 1', 'good_1.mp4 1'])

    cfg = k400_runner_cfg(tmp_path / 'strict', root, ann_file)
    cfg.test_dataloader.num_workers = 0
    runner = Runner.from_cfg(cfg)
    with pytest.raises(UnreadableVideoError,
                       match=osp.join(root, 'corrupt.mp4')):
        runner.test()

    cfg = k400_runner_cfg(tmp_path / 'skip', root, ann_file)
    cfg.merge_from_dict({'test_dataloader.dataset.skip_unreadable': True})
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    assert 'acc/top1' in metrics
    log = read_log(cfg.work_dir)
    assert ('Test: the metrics cover 2 videos; 1 unreadable videos were '
            'left out (skip_unreadable):') in log
    assert f'  {osp.join(root, "corrupt.mp4")}: ' in log


DIST_SCRIPT = r'''
import json, sys
from unittest import mock
import mmsparseformer  # noqa: F401
import torch.distributed
from mmengine.dist import get_rank
from mmengine.registry import init_default_scope
from mmaction.registry import DATASETS
from mmsparseformer.datasets import UnreadableVideoHook, video_check
from mmsparseformer.datasets import robust_video_dataset

root, ann_file, log_file, out = sys.argv[1:5]
# gloo directly: mmengine's init_dist calls torch.cuda.set_device
torch.distributed.init_process_group('gloo')
init_default_scope('mmaction')
rank = get_rank()
probed = []

def recording_check(path, *args, **kwargs):
    probed.append(path)
    return video_check.check_video(path, *args, **kwargs)

with mock.patch.object(robust_video_dataset, 'check_video', recording_check):
    dataset = DATASETS.build(dict(
        type='RobustVideoDataset', ann_file=ann_file,
        data_prefix=dict(video=root), pipeline=[], test_mode=True,
        skip_unreadable=True))

from mmengine.logging import MessageHub, MMLogger

class Runner:
    logger = MMLogger.get_instance('dist_hook', log_file=log_file)
    message_hub = MessageHub.get_instance('dist_hook')
    epoch = 0
    iter = 0

hook = UnreadableVideoHook()
hook.before_train(Runner)
hook._epoch_reads = [f'rank{rank}.mp4'] * (rank + 1)
hook.after_train_epoch(Runner)
with open(f'{out}.{rank}', 'w') as f:
    json.dump(dict(probed=probed, skipped=dataset.skipped_videos,
                   size=len(dataset), reads=hook.total_reads,
                   files=sorted(hook.total_files)), f)
torch.distributed.destroy_process_group()
'''


@pytest.mark.slow
def test_distributed_skip_probe_and_counts(videos, tmp_path):
    """With 2 gloo ranks: each rank decodes half of the list and both agree
    on the skipped videos; the hook sums the replaced videos of both."""
    root, ann_file, names = videos
    script = tmp_path / 'dist_script.py'
    script.write_text(DIST_SCRIPT)
    out = str(tmp_path / 'result')
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         '--standalone', str(script), root, ann_file,
         str(tmp_path / 'hook.log'), out],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = []
    for rank in range(2):
        with open(f'{out}.{rank}') as f:
            ranks.append(json.load(f))
    all_paths = [osp.join(root, name) for name in names]
    assert sorted(ranks[0]['probed'] + ranks[1]['probed']) == \
        sorted(all_paths)
    assert not set(ranks[0]['probed']) & set(ranks[1]['probed'])
    for data in ranks:
        assert sorted(name for name, _ in data['skipped']) == [
            osp.join(root, 'corrupt.mp4'), osp.join(root, 'empty.mp4')]
        assert data['size'] == len(names) - 2
        assert data['reads'] == 3
        assert data['files'] == ['rank0.mp4', 'rank1.mp4']
