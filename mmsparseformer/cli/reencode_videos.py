"""Re-encode a video dataset for cheap training clips (short side 256 or
320, a keyframe every 32 frames, H.264 tuned for fast decoding).

    python tools/data/kinetics/reencode_videos.py \
        data/kinetics400/videos_train data/kinetics400/videos_train_256p \
        --short-side 256 --gop 32 --workers 16

Runs in parallel, one process per worker; each finished video is read back
(same frame count) before it gets its final name, so an interrupted run can
simply be started again: finished videos are skipped. The destination must
not be, contain or lie inside the source folder. Sources are mirrored
folder by folder as ``.mp4`` files, so the annotation lists stay valid
(names with another extension need ``.mp4``). PyAV bundles FFmpeg and
libx264: no system ffmpeg is needed. Prints the disk size and decode cost
before and after; the exit status is 1 when a video failed (they are listed).
"""
import argparse
import json
import os
import sys

from ..datasets.reencode import (ReencodeOptions, measure_clip_decode,
                                 plan_jobs, reencode_videos, summary_rows)
from ..datasets.video_check import read_list_filenames
from ..utils.markdown import markdown_table


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='folder of source videos')
    parser.add_argument('dst', help='folder for the re-encoded videos')
    parser.add_argument(
        '--list', help='only the videos of this annotation list (names '
        'relative to src); default: every video under src')
    parser.add_argument('--short-side', type=int, default=256,
                        help='short side in pixels, never upscaled '
                        '(default: %(default)s; 320 also common)')
    parser.add_argument('--gop', type=int, default=32,
                        help='keyframe interval in frames '
                        '(default: %(default)s)')
    parser.add_argument('--crf', type=float, default=23.,
                        help='x264 constant quality (default: %(default)s)')
    parser.add_argument('--preset', default='medium', help='x264 preset')
    parser.add_argument(
        '--tune', default='fastdecode',
        help="x264 tune (default: %(default)s; 'none' for none)")
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                        help='processes (default: all CPU cores)')
    parser.add_argument(
        '--measure', type=int, default=4,
        help='measure the decord decode cost of 32x2 clips on this many '
        'videos before and after (default: %(default)s; 0: no)')
    parser.add_argument('--json', help='write every result here')
    return parser.parse_args(argv)


def report(results, measure: int) -> None:
    failed = [r for r in results if r.status == 'failed']
    counts = {s: sum(r.status == s for r in results)
              for s in ('encoded', 'skipped', 'failed')}
    print(f'\n{counts["encoded"]} re-encoded, {counts["skipped"]} already '
          f'finished (skipped), {counts["failed"]} failed')
    for r in failed:
        print(f'  failed: {r.src}: {r.error}')
    clip_ms = measure_clip_decode(results, measure) if measure > 0 else None
    print('\n' + markdown_table(summary_rows(results, clip_ms)))


def main(argv=None) -> int:
    args = parse_args(argv)
    options = ReencodeOptions(
        short_side=args.short_side,
        gop=args.gop,
        crf=args.crf,
        preset=args.preset,
        tune=None if args.tune == 'none' else args.tune)
    try:
        names = read_list_filenames(args.list) if args.list else None
        jobs = plan_jobs(args.src, args.dst, names)
    except (FileNotFoundError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    print(f'{len(jobs)} videos, {args.workers} workers: {options}')
    results = reencode_videos(jobs, options, args.workers)
    report(results, args.measure)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump([r.to_dict() for r in results], f, indent=2)
    return 1 if any(r.status == 'failed' for r in results) else 0
