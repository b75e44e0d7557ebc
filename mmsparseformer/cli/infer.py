"""Recognise the actions in video files with a trained recognizer.

Each video is decoded and cropped by the config's test pipeline, normalised
by its data preprocessor, and the views are averaged as the config's head
does (``average_clips``). Prints the top-k classes per video; a video that
cannot be read is reported and the others go on.

The model is a PyTorch checkpoint, or an ONNX file exported by
``tools/deployment/export_onnx.py`` run with onnxruntime (``--onnx`` or
``--backend onnxruntime``, or a CHECKPOINT ending in ``.onnx``), with the
same pre-processing and view averaging.

Examples::

    python tools/infer.py CONFIG CHECKPOINT demo.mp4 videos/ --topk 5 \\
        --label-map label_map_k400.txt --out results.json
    python tools/infer.py CONFIG CHECKPOINT clip.mp4 --device cuda
    python tools/infer.py CONFIG --onnx model.onnx clip.mp4 videos/

A zero-shot config recognises the classes of any text classifier
(``tools/zeroshot/build_text_classifier.py MY_LABELS --out my.pt``), named
by the label map stored in it::

    python tools/infer.py ZERO_SHOT_CONFIG CHECKPOINT clip.mp4 \\
        --classifier my.pt
"""
import argparse
import json
import os.path as osp
import sys
import time
from typing import List, Optional

import torch

from ..apis import (VideoInferencer, build_inferencer, collect_videos,
                    infer_videos, load_label_map, with_text_classifier)
from ..checkpoint_io import CheckpointError


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        usage='%(prog)s CONFIG CHECKPOINT INPUT [INPUT ...] [options]\n'
        '       %(prog)s CONFIG --onnx MODEL.onnx INPUT [INPUT ...] '
        '[options]')
    parser.add_argument('config', help='the model config')
    parser.add_argument(
        'paths',
        nargs='+',
        metavar='CHECKPOINT INPUT',
        help='the checkpoint (unless --onnx is given), then video files or '
        'folders (searched recursively for videos)')
    parser.add_argument(
        '--backend',
        choices=['pytorch', 'onnxruntime'],
        default=None,
        help='default: onnxruntime for an .onnx model file, else pytorch')
    parser.add_argument(
        '--onnx',
        help='an exported .onnx model (implies --backend onnxruntime); '
        'every path after CONFIG is then an input')
    parser.add_argument(
        '--topk', type=int, default=5, help='classes to report per video')
    parser.add_argument(
        '--label-map',
        help='class names, one per line (e.g. label_map_k400.txt)')
    parser.add_argument(
        '--classifier',
        help='a zero-shot config\'s text classifier file '
        '(tools/zeroshot/build_text_classifier.py): its classes replace the '
        'config\'s; names from the file unless --label-map is given')
    parser.add_argument('--out', help='write the results to this JSON file')
    parser.add_argument(
        '--device',
        default=None,
        help='cpu, cuda or cuda:N (default: cuda:0 when available)')
    parser.add_argument(
        '--view-batch',
        type=int,
        default=None,
        help='views per forward pass (default: all views of a video)')
    args = parser.parse_args(argv)
    if args.onnx:
        if args.backend == 'pytorch':
            parser.error('--onnx runs with onnxruntime, not --backend '
                         'pytorch')
        args.checkpoint, args.inputs = args.onnx, args.paths
        args.backend = 'onnxruntime'
    else:
        if len(args.paths) < 2:
            parser.error('give a CHECKPOINT and at least one INPUT')
        args.checkpoint, args.inputs = args.paths[0], args.paths[1:]
        if args.backend is None:
            args.backend = 'onnxruntime' if args.checkpoint.endswith(
                '.onnx') else 'pytorch'
    return args


def format_result(result: dict) -> str:
    """Lines for one video's result."""
    if 'error' in result:
        return f'{result["file"]}: FAILED ({result["error"]})'
    lines = [f'{result["file"]} ({result["views"]} views)']
    for rank, entry in enumerate(result['topk'], 1):
        name = entry['name'] if entry['name'] is not None else \
            f'class {entry["label"]}'
        lines.append(f'  {rank}. {name:<40} {entry["score"]:.4f}')
    return '\n'.join(lines)


def default_device(backend: str) -> str:
    """cuda:0 when the backend can use it here, else cpu."""
    if backend == 'onnxruntime':
        try:
            import onnxruntime
        except ImportError:
            return 'cpu'
        return 'cuda:0' if 'CUDAExecutionProvider' in \
            onnxruntime.get_available_providers() else 'cpu'
    return 'cuda:0' if torch.cuda.is_available() else 'cpu'


def check_inputs(args: argparse.Namespace) -> List[str]:
    """The videos to recognise; ``ValueError`` for a bad argument."""
    if args.topk < 1:
        raise ValueError('--topk must be >= 1')
    if args.out and not osp.isdir(osp.dirname(osp.abspath(args.out))):
        raise ValueError(f'the folder of --out {args.out} does not exist')
    videos = collect_videos(args.inputs)
    if not videos:
        raise ValueError(f'no video files in {args.inputs}')
    return videos


def write_summary(args: argparse.Namespace, inferencer: VideoInferencer,
                  device: str, results: List[dict]) -> None:
    """The JSON of ``--out``: the settings and every video's result."""
    summary = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        backend=inferencer.backend.name,
        device=device,
        topk=args.topk,
        label_map=args.label_map,
        classifier=args.classifier,
        num_videos=len(results),
        num_failed=sum('error' in r for r in results),
        results=results)
    with open(args.out, 'w') as f:
        json.dump(summary, f, indent=2)
    print(f'Results written to {args.out}')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    device = args.device or default_device(args.backend)
    try:
        videos = check_inputs(args)
        config = with_text_classifier(args.config, args.classifier) \
            if args.classifier else args.config
        inferencer = build_inferencer(
            config,
            args.checkpoint,
            backend=args.backend,
            device=device,
            view_batch=args.view_batch)
        # a zero-shot head knows its class names (the classifier's label map)
        names = load_label_map(args.label_map, inferencer.num_classes) \
            if args.label_map else getattr(inferencer.head, 'class_names',
                                           None)
    except (CheckpointError, FileNotFoundError, ValueError, RuntimeError,
            KeyError, ImportError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    start = time.perf_counter()
    results = infer_videos(inferencer, videos, args.topk, names)
    elapsed = time.perf_counter() - start
    for result in results:
        print(format_result(result))
    failed = sum('error' in r for r in results)
    print(f'\n{len(results) - failed} of {len(results)} videos '
          f'recognised ({failed} failed) in {elapsed:.1f} s on '
          f'{device} ({inferencer.backend.name})')
    if args.out:
        write_summary(args, inferencer, device, results)
    return 1 if failed == len(results) else 0
