"""Cheaper training clips: the seeking PyAV decoder, repeated augmentation
that survives unreadable videos, the re-encoder and the data-throughput
measurement, on small generated H.264 clips."""
import json
import math
import os
import os.path as osp

import decord
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmsparseformer  # noqa: F401  (registries)
from mmaction.registry import DATASETS, TRANSFORMS
from mmsparseformer.analysis import data_throughput as dt
from mmsparseformer.cli import data_throughput as data_throughput_tool
from mmsparseformer.datasets import (UNREADABLE_VIDEOS_KEY,
                                     RobustRepeatAugDataset)
from mmsparseformer.datasets.reencode import (ReencodeOptions, plan_jobs,
                                              reencode_videos, summary_rows,
                                              target_size)
from mmsparseformer.datasets.video_codec import (probe_video,
                                                 synthetic_frames, write_h264)
from mmsparseformer.testing import in_process

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs', 'recognition', 'videosparseformer')
TINY_K400 = osp.join(
    CONFIGS, 'videosparseformer-tiny_in1k-pre_8xb8-32x2x1-30e_kinetics400-'
    'rgb.py')
REPAUG_K400 = osp.join(
    CONFIGS, 'videosparseformer-tiny_in1k-pre_8xb8-repaug2-32x2x1-15e_'
    'kinetics400-rgb.py')
FRAMES, GOP = 40, 10


@pytest.fixture(autouse=True)
def mmaction_scope():
    init_default_scope('mmaction')


def make_clip(path: str, seed: int, size=(64, 48), frames: int = FRAMES,
              gop: int = GOP) -> str:
    return write_h264(
        path,
        synthetic_frames(*size, frames, seed=seed),
        fps=15,
        gop=gop,
        preset='ultrafast')


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    """Three H.264 clips (40 frames, keyframe every 10), an unreadable one
    and an annotation list ``name label``."""
    root = tmp_path_factory.mktemp('videos')
    names = []
    for index in range(3):
        names.append(f'clip{index}.mp4')
        make_clip(str(root / names[-1]), seed=index)
    (root / 'broken.mp4').write_bytes(b'\x00not a video' * 50)
    labels = {'clip0.mp4': 3, 'clip1.mp4': 1, 'clip2.mp4': 2,
              'broken.mp4': 0}
    (root / 'list.txt').write_text(''.join(
        f'{name} {label}\n' for name, label in labels.items()))
    return root, labels


def decord_frames(path: str, inds) -> np.ndarray:
    return decord.VideoReader(path, num_threads=1).get_batch(
        list(inds)).asnumpy()


# ------------------------------------------------------------ PyAV decoder
def test_pyav_seek_decode_equals_decord(videos):
    root, _ = videos
    path = str(root / 'clip1.mp4')
    init = TRANSFORMS.build(dict(type='PyAVSeekInit'))
    decode = TRANSFORMS.build(dict(type='PyAVSeekDecode'))
    assert init(dict(filename=path))['total_frames'] == FRAMES
    for inds in (np.arange(3, 35, 2), np.array([39, 0, 12, 12, 25, 9]),
                 np.arange(30, 40)):
        results = decode(init(dict(filename=path, frame_inds=inds)))
        assert np.array_equal(
            np.stack(results['imgs']), decord_frames(path, inds))
        assert results['video_reader'] is None
    # a repeated index gets its own array (Flip works in place)
    imgs = decode(init(dict(filename=path,
                            frame_inds=np.array([5, 5]))))['imgs']
    assert imgs[0] is not imgs[1] and np.array_equal(imgs[0], imgs[1])


def test_pyav_seek_errors_name_the_file(videos):
    root, _ = videos
    init = TRANSFORMS.build(dict(type='PyAVSeekInit'))
    decode = TRANSFORMS.build(dict(type='PyAVSeekDecode'))
    with pytest.raises(FileNotFoundError, match='missing.mp4'):
        init(dict(filename=str(root / 'missing.mp4')))
    with pytest.raises(Exception):
        init(dict(filename=str(root / 'broken.mp4')))
    path = str(root / 'clip0.mp4')
    with pytest.raises(IndexError, match='clip0.mp4'):
        decode(init(dict(filename=path, frame_inds=np.array([FRAMES]))))


# ------------------------------------------------- repeated augmentation
def repeat_dataset(root, num_repeats=3, sample_once=True, flip=True,
                   decoder='Decord', **kwargs):
    pipeline = [
        dict(type=f'{decoder}Init'),
        dict(type='SampleFrames', clip_len=4, frame_interval=3,
             num_clips=1),
        dict(type=f'{decoder}Decode'),
    ] + ([dict(type='Flip', flip_ratio=1.)] if flip else []) + [
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs', meta_keys=('frame_inds', 'filename'))
    ]
    return DATASETS.build(
        dict(
            type='RobustRepeatAugDataset',
            ann_file=str(root / 'list.txt'),
            data_prefix=dict(video=str(root)),
            pipeline=pipeline,
            num_repeats=num_repeats,
            sample_once=sample_once,
            **kwargs))


def clip_frames(clip) -> np.ndarray:
    """``(T, H, W, 3)`` frames of a packed 1-view NCTHW clip."""
    return clip['inputs'][0].permute(1, 2, 3, 0).numpy()


@pytest.mark.parametrize('decoder', ['Decord', 'PyAVSeek'])
@pytest.mark.parametrize('sample_once', [True, False])
def test_repeat_aug_clips_are_the_pipelines_own(videos, sample_once,
                                                decoder):
    root, labels = videos
    np.random.seed(0)
    dataset = repeat_dataset(
        root, num_repeats=3, sample_once=sample_once, decoder=decoder)
    for index in range(3):  # the readable videos
        clips = dataset[index]
        assert len(clips) == 3
        name = osp.basename(clips[0]['data_samples'].filename)
        starts = set()
        for clip in clips:
            sample = clip['data_samples']
            assert osp.basename(sample.filename) == name
            assert int(sample.gt_label) == labels[name]
            inds = sample.frame_inds
            assert len(inds) == 4 and np.all(np.diff(inds) == 3)
            starts.add(int(inds[0]))
            # flipped once (not twice through a shared frame)
            expected = decord_frames(str(root / name), inds)[:, :, ::-1]
            assert np.array_equal(clip_frames(clip), expected)
        if sample_once:
            assert len(starts) == 1
    if not sample_once:  # own windows: over 9 clips some start differs
        assert len(starts) > 1


@pytest.mark.parametrize('decoder', ['Decord', 'PyAVSeek'])
def test_repeat_aug_replaces_an_unreadable_video(videos, decoder):
    root, labels = videos
    dataset = repeat_dataset(
        root, num_repeats=2, decoder=decoder, max_refetch=20)
    broken = [i for i in range(len(dataset))
              if dataset.get_data_info(i)['filename'].endswith('broken.mp4')]
    assert broken
    clips = dataset[broken[0]]
    assert len(clips) == 2
    names = {osp.basename(c['data_samples'].filename) for c in clips}
    assert len(names) == 1 and 'broken.mp4' not in names
    assert [int(c['data_samples'].gt_label) for c in clips] == \
        [labels[names.pop()]] * 2
    # recorded once (on the first clip) for UnreadableVideoHook
    replaced = clips[0]['data_samples'].metainfo[UNREADABLE_VIDEOS_KEY]
    assert [osp.basename(n) for n in replaced] == ['broken.mp4']
    assert UNREADABLE_VIDEOS_KEY not in clips[1]['data_samples'].metainfo


def test_repeat_aug_refuses_bad_settings(videos):
    root, _ = videos
    with pytest.raises(ValueError, match='num_repeats'):
        repeat_dataset(root, num_repeats=0)
    with pytest.raises(ValueError, match='for training'):
        repeat_dataset(root, test_mode=True)
    with pytest.raises(ValueError, match='init, a frame sampler'):
        RobustRepeatAugDataset(
            str(root / 'list.txt'),
            pipeline=[dict(type='SampleFrames', clip_len=2),
                      dict(type='DecordInit'), dict(type='DecordDecode')])


def test_repeat_aug_config_batches(videos):
    """The repaug2 K400 config: batch_size counts videos, each gives 2
    clips with its label; 15 epochs of 2 clips per video."""
    root, labels = videos
    cfg = Config.fromfile(REPAUG_K400)
    init_default_scope('mmaction')
    assert cfg.train_cfg.max_epochs * 2 == 30
    assert cfg.train_dataloader.batch_size * 2 == 8
    loader_cfg = cfg.train_dataloader
    loader_cfg.update(num_workers=0, persistent_workers=False,
                      batch_size=2)
    loader_cfg.dataset.update(
        ann_file=str(root / 'list.txt'), data_prefix=dict(video=str(root)))
    loader = Runner.build_dataloader(loader_cfg)
    assert len(loader) == math.ceil(len(labels) / 2)
    batch = next(iter(loader))
    assert len(batch['inputs']) == 4
    assert batch['inputs'][0].shape == (1, 3, 32, 224, 224)
    gt = [int(s.gt_label) for s in batch['data_samples']]
    assert gt[0] == gt[1] and gt[2] == gt[3]


# -------------------------------------------------------------- re-encoder
@pytest.fixture(scope='module')
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp('sources')
    make_clip(str(root / 'a' / 'one.mp4'), seed=5, size=(96, 64), gop=40)
    make_clip(str(root / 'two.mkv'), seed=6, size=(64, 96), gop=40)
    return root


def test_reencode_refuses_to_write_over_its_input(sources, tmp_path):
    with pytest.raises(ValueError, match='is the source'):
        plan_jobs(str(sources), str(sources) + '/.')
    with pytest.raises(ValueError, match='inside the source'):
        plan_jobs(str(sources), str(sources / 'a' / 'out'))
    with pytest.raises(ValueError, match='inside the destination'):
        plan_jobs(str(sources / 'a'), str(sources))
    with pytest.raises(FileNotFoundError, match='nowhere'):
        plan_jobs(str(tmp_path / 'nowhere'), str(tmp_path / 'out'))
    with pytest.raises(FileNotFoundError, match='three.mp4'):
        plan_jobs(str(sources), str(tmp_path / 'out'), ['three.mp4'])


def test_reencode_size_keyframes_frames_and_resume(sources, tmp_path):
    dst = tmp_path / 'out'
    jobs = plan_jobs(str(sources), str(dst))
    assert [osp.relpath(d, dst) for _, d in jobs] == ['a/one.mp4', 'two.mp4']
    options = ReencodeOptions(short_side=32, gop=8, preset='ultrafast')
    results = reencode_videos(jobs, options, workers=2)
    assert [r.status for r in results] == ['encoded'] * 2, results
    for (src, out), expected in zip(jobs, [(48, 32), (32, 48)]):
        before, after = probe_video(src), probe_video(out, decode=True)
        assert after.frames == before.frames == FRAMES
        assert after.duration_s == pytest.approx(before.duration_s, abs=0.07)
        assert (after.width, after.height) == expected
        assert after.keyframes == list(range(0, FRAMES, 8))
        assert before.keyframe_interval == 40
        assert len(decord.VideoReader(out)) == FRAMES
    assert sorted(os.listdir(dst)) == ['a', 'two.mp4']  # no temp files
    stamp = os.stat(jobs[0][1]).st_mtime_ns
    again = reencode_videos(jobs, options, workers=1)
    assert [r.status for r in again] == ['skipped'] * 2
    assert os.stat(jobs[0][1]).st_mtime_ns == stamp
    rows = dict((r[0], r[1:]) for r in summary_rows(results))
    assert rows['keyframe interval (max)'] == ('40', '8')
    assert rows['short side (median)'] == ('64', '32')


def test_reencode_reports_a_corrupt_source(videos, tmp_path):
    root, _ = videos
    jobs = [(str(root / 'broken.mp4'), str(tmp_path / 'broken.mp4'))]
    result, = reencode_videos(jobs, ReencodeOptions(), workers=1)
    assert result.status == 'failed' and 'broken.mp4' in result.error
    assert os.listdir(tmp_path) == []


def test_target_size_never_upscales_and_is_even():
    assert target_size(1280, 720, 256) == (456, 256)
    assert target_size(720, 1280, 320) == (320, 568)
    assert target_size(340, 256, 320) == (340, 256)


# ------------------------------------------------------ throughput library
def test_measure_pipeline_per_transform(videos, tmp_path):
    root, _ = videos
    cfg = Config.fromfile(REPAUG_K400)
    cfg.train_dataloader.dataset.pipeline[1].update(clip_len=4)
    paths = [str(root / f'clip{i}.mp4') for i in range(3)]
    cost = dt.measure_pipeline(cfg, 'train', paths, items=3,
                               work_dir=str(tmp_path))
    assert (cost.items, cost.clips, cost.dataset) == \
        (3, 6, 'RobustRepeatAugDataset')
    names = [t.name for t in cost.transforms]
    assert names == [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    calls = {t.name: t.calls for t in cost.transforms}
    assert calls['DecordDecode'] == 3 and calls['FormatShape'] == 6
    assert [t.loading for t in cost.transforms[:4]] == [True] * 3 + [False]
    assert 0 < cost.decode_cpu_ms <= cost.cpu_ms
    assert sum(t.cpu_ms for t in cost.transforms) <= cost.cpu_ms + 1e-6
    # the timers are gone again
    dataset = DATASETS.build(
        dt.dataset_cfg_for_videos(cfg, 'train', str(tmp_path /
                                                     'train_videos.txt')))
    assert all('transform' not in vars(t)
               for t in dataset.pipeline.transforms)


def test_measure_model_is_benchmarks_training_speed():
    cfg = Config.fromfile(
        osp.join(ROOT, 'tests', 'data', 'configs',
                 'vsf_micro_2xb2-4x1x1-2e_tinyvideo-rgb.py'))
    result = dt.measure_model(cfg, iters=1, warmup=0, train_batch=2,
                              shape=(2, 32, 32))
    assert result.training.batch == 2 and result.training.clips_per_s > 0


def test_verdict_arithmetic():
    cost = dt.PipelineCost('train', 'X', 10, 10, 1, cpu_ms=100.,
                           wall_ms=100.)
    found = dt.verdict(cost, 700., workers=8, device='cuda')
    assert found.bound == 'data loading' and found.workers_to_balance == 70
    assert '70 workers (CPU cores) per GPU' in found.text
    found = dt.verdict(cost, 5., workers=8, device='cuda')
    assert found.bound == 'the model' and found.workers_to_balance == 1


def test_list_videos(videos, tmp_path):
    root, labels = videos
    assert len(dt.list_videos(str(root))) == len(labels)
    assert dt.list_videos(str(root / 'list.txt'), str(root), limit=2) == [
        str(root / 'clip0.mp4'), str(root / 'clip1.mp4')]
    with pytest.raises(FileNotFoundError, match='--video-root'):
        dt.list_videos(str(root / 'list.txt'))
    with pytest.raises(FileNotFoundError, match='No video files'):
        dt.list_videos(str(tmp_path))


@pytest.mark.slow
def test_data_throughput_tool_end_to_end(tmp_path, capsys):
    """The tool (its ``main``, in this process) on generated H.264 clips
    with the tiny K400 config: the per-transform tables, the verdict, and
    its JSON read back."""
    out = tmp_path / 'result.json'
    with in_process(ROOT):
        assert data_throughput_tool.main([
            TINY_K400, '--generate', '64x48', '--generate-seconds', '2',
            '--generate-fps', '15', '--generate-count', '2',
            '--train-items', '3', '--test-items', '1',
            # far more than 8 workers can feed, whatever this machine's speed
            '--model-clips-per-s', '100000', '--device', 'cuda', '--work-dir',
            str(tmp_path / 'clips'), '--json', str(out)
        ]) == 0
    printed = capsys.readouterr().out
    assert '| DecordDecode *' in printed and '| FormatShape' in printed
    assert 'Verdict: Training is bound by data loading' in printed
    result = json.loads(out.read_text())
    train, test = result['pipelines']['train'], result['pipelines']['test']
    assert (train['clips'], test['clips'], test['views_per_clip']) == \
        (3, 1, 12)
    assert [t['name'] for t in train['transforms']] == [
        t['type'] for t in Config.fromfile(TINY_K400).train_pipeline]
    assert train['decode_cpu_ms'] == pytest.approx(
        sum(t['cpu_ms'] for t in train['transforms'] if t['loading']))
    assert train['clips_per_s_per_worker'] == pytest.approx(
        1000 / train['cpu_ms'])
    verdict = result['verdict']
    assert verdict['workers_to_balance'] == math.ceil(
        100000 / train['clips_per_s_per_worker'])
    assert f"{verdict['workers_to_balance']} workers" in printed
    for video in result['videos']:
        assert probe_video(video).codec == 'h264'
