"""Does the data loader or the model bound training? Measure both.

For a config's train and test pipelines on your videos (or generated H.264
clips), prints the CPU milliseconds per clip split per transform and the
clips/s of one loader worker (one CPU core); then the model's training
clips/s on a device (tools/analysis/benchmark.py's measurement) and a
one-line verdict: which side bounds training and how many loader workers
per GPU would balance it.

Examples::

    # your own videos (a folder, or an annotation list + its root)
    python tools/analysis/data_throughput.py CONFIG \
        --videos data/kinetics400/videos_train --max-videos 16 --device cuda
    python tools/analysis/data_throughput.py CONFIG \
        --videos data/kinetics400/kinetics400_train_list_videos.txt \
        --video-root data/kinetics400/videos_train
    # generated 10 s 30 fps H.264 clips (keyframe every 250 frames), loader
    # only, against a model speed measured elsewhere
    python tools/analysis/data_throughput.py CONFIG --generate 1280x720 \
        --model-clips-per-s 700 --json out.json
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile

from mmengine.config import Config, DictAction

from ..analysis.benchmark import environment
from ..analysis.data_throughput import (config_workers, generate_videos,
                                        list_videos, measure_model,
                                        measure_pipeline, pipeline_rows,
                                        summary_line, verdict)
from ..utils.markdown import markdown_table


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='MMAction2 config file')
    add_video_args(parser)
    add_measure_args(parser)
    parser.add_argument('--json', help='also write the results here')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. '
        'train_dataloader.dataset.pipeline.0.num_threads=2')
    return parser.parse_args(argv)


def add_video_args(parser) -> None:
    group = parser.add_argument_group('videos')
    group.add_argument(
        '--videos',
        help='a folder of videos (searched recursively) or an annotation '
        'list (first field: the video path)')
    group.add_argument(
        '--video-root', help='folder the names of a --videos list are in')
    group.add_argument(
        '--max-videos', type=int, default=8,
        help='use at most this many videos (default: %(default)s)')
    group.add_argument(
        '--generate', default='456x256', metavar='WxH',
        help='without --videos: generate H.264 clips of this size '
        '(default: %(default)s)')
    group.add_argument('--generate-count', type=int, default=4)
    group.add_argument('--generate-seconds', type=float, default=10.)
    group.add_argument('--generate-fps', type=float, default=30.)
    group.add_argument(
        '--generate-gop', type=int, default=250,
        help='keyframe interval of generated clips (default: %(default)s)')
    group.add_argument(
        '--work-dir',
        help='where generated clips are kept and reused (default: a '
        'temporary folder)')


def add_measure_args(parser) -> None:
    group = parser.add_argument_group('measurement')
    group.add_argument(
        '--train-items', type=int, default=24,
        help='training dataset items to time (default: %(default)s)')
    group.add_argument(
        '--test-items', type=int, default=4,
        help='test dataset items to time; 0 skips the test pipeline '
        '(default: %(default)s)')
    group.add_argument(
        '--warmup', type=int, default=1, help='untimed items first')
    group.add_argument(
        '--seed', type=int, default=0,
        help='seed of the frame sampling and augmentation (default: '
        '%(default)s): the same clips in every run')
    group.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    group.add_argument(
        '--model-clips-per-s', type=float,
        help='the model\'s training clips/s, measured elsewhere (skips the '
        'model measurement)')
    group.add_argument(
        '--no-model', action='store_true',
        help='measure the pipelines only (no verdict)')
    group.add_argument(
        '--model-shape', type=int, nargs=3, metavar=('T', 'H', 'W'),
        help='clip shape of the model measurement (default: one view of '
        'the test protocol)')
    group.add_argument(
        '--model-iters', type=int, default=3,
        help='timed training steps (default: %(default)s)')
    group.add_argument(
        '--train-batch', type=int, default=2,
        help='clips per training step of the model measurement')


def load_cfg(args) -> Config:
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def resolve_videos(args, work_dir: str) -> list:
    if args.videos:
        return list_videos(args.videos, args.video_root, args.max_videos)
    try:
        width, height = (int(x) for x in args.generate.lower().split('x'))
    except ValueError:
        raise ValueError(f'--generate takes WxH, got {args.generate!r}')
    print(f'Generating {args.generate_count} H.264 clips of {width}x'
          f'{height}, {args.generate_seconds:g} s at {args.generate_fps:g} '
          f'fps, keyframe every {args.generate_gop} frames in {work_dir}',
          flush=True)
    return generate_videos(work_dir, width, height, args.generate_count,
                           args.generate_seconds, args.generate_fps,
                           args.generate_gop)[:args.max_videos]


def measure_pipelines(cfg, args, videos, work_dir) -> list:
    costs = []
    for split, items in (('train', args.train_items),
                         ('test', args.test_items)):
        if items <= 0:
            continue
        print(f'Timing the {split} pipeline on {len(videos)} videos ...',
              flush=True)
        cost = measure_pipeline(cfg, split, videos, items, work_dir,
                                args.warmup, args.seed)
        print('\n' + markdown_table(pipeline_rows(cost)) + '\n')
        print(summary_line(cost) + '\n')
        costs.append(cost)
    return costs


def measure_model_speed(cfg, args):
    """``(clips/s, ModelResult or None)``; ``(None, None)`` with --no-model.
    """
    if args.no_model:
        return None, None
    if args.model_clips_per_s:
        return args.model_clips_per_s, None
    print(f'Timing the model\'s training step on {args.device} ...',
          flush=True)
    result = measure_model(
        cfg,
        args.device,
        iters=args.model_iters,
        train_batch=args.train_batch,
        shape=args.model_shape)
    print(f'Model: {result.training.clips_per_s:.3g} training clips/s on '
          f'{args.device} (batch {result.training.batch}, clip '
          f'{"x".join(map(str, result.shape))})')
    return result.training.clips_per_s, result


def report(cfg, args, videos, costs, model_speed, model_result):
    train = next((c for c in costs if c.split == 'train'), None)
    result = dict(
        config=args.config,
        videos=videos,
        environment=environment(),
        pipelines={c.split: c.to_dict() for c in costs},
        model=model_result.to_dict() if model_result else None,
        model_clips_per_s=model_speed)
    if train is not None and model_speed:
        found = verdict(train, model_speed, config_workers(cfg), args.device)
        print('Verdict: ' + found.text)
        result['verdict'] = vars(found)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2, default=str)
        print(f'Wrote {args.json}')


def run(cfg, args, work_dir: str) -> None:
    videos = resolve_videos(args, work_dir)
    load = ', '.join(f'{x:.2f}' for x in os.getloadavg())
    print(f'Load average: {load} (the CPU times below are per process, '
          'robust to other processes)')
    costs = measure_pipelines(cfg, args, videos, work_dir)
    model_speed, model_result = measure_model_speed(cfg, args)
    report(cfg, args, [osp.abspath(v) for v in videos], costs, model_speed,
           model_result)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_cfg(args)
        with tempfile.TemporaryDirectory() as tmp:
            work_dir = args.work_dir or tmp
            os.makedirs(work_dir, exist_ok=True)
            run(cfg, args, work_dir)
    except (FileNotFoundError, KeyError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    return 0
