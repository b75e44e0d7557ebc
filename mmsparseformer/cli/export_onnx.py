"""Export a recognizer (backbone + head) to ONNX: input ``clips``
(B, 3, T, H, W) normalised as the config's data preprocessor does, outputs
``scores`` (softmax) and ``logits``.

Examples::

    python tools/deployment/export_onnx.py CONFIG CKPT --out model.onnx
    python tools/deployment/export_onnx.py CONFIG CKPT --out model.onnx \\
        --shape 1 32 224 224 --dynamic-batch --verify --benchmark 5

Run the file with ``tools/infer.py CONFIG --onnx model.onnx video.mp4`` (the
same pre-processing as PyTorch) or with onnxruntime alone (the mean and std
are in the file's metadata).
"""
import argparse
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..analysis.benchmark import timed_calls
from ..apis import build_recognizer
from ..checkpoint_io import CheckpointError
from ..deployment import (INPUT_NAME, MIN_OPSET, ExportError, check_opset,
                          export_onnx, onnx_session, reference_path,
                          require_onnx, verify_onnx)
from ..models import ClipRecognizer
from ..utils.config import load_config, read_view_protocol


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='the model config')
    parser.add_argument('checkpoint', help='checkpoint of the model')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=4,
        metavar=('B', 'T', 'H', 'W'),
        help='input shape (default: batch 1 and the test pipeline\'s clip)')
    parser.add_argument(
        '--dynamic-batch',
        action='store_true',
        help='make the batch axis dynamic')
    parser.add_argument(
        '--opset',
        type=int,
        default=MIN_OPSET,
        help=f'ONNX opset (>= {MIN_OPSET}: 5-D GridSample; default '
        f'{MIN_OPSET})')
    parser.add_argument(
        '--verify',
        action='store_true',
        help='compare onnxruntime with PyTorch on random clips (two batch '
        'sizes with --dynamic-batch); fail above --tolerance')
    parser.add_argument(
        '--tolerance',
        type=float,
        default=1e-4,
        help='largest allowed difference for --verify (default 1e-4)')
    parser.add_argument(
        '--benchmark',
        type=int,
        default=0,
        metavar='ITERS',
        help='also time PyTorch eager and onnxruntime per clip (ITERS runs '
        'each, after one warm-up run)')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='threads of torch and onnxruntime for --benchmark')
    return parser.parse_args(argv)


def benchmark(recognizer: nn.Module, path: str, shape: Sequence[int],
              iters: int,
              threads: Optional[int]) -> Dict[str, Tuple[float, float]]:
    """PyTorch eager (as configured, and through the reference path the
    ONNX graph follows) against onnxruntime, on one input: wall and CPU
    seconds per run, after one warm-up run."""
    if threads:
        torch.set_num_threads(threads)
    threads = torch.get_num_threads()
    batch = shape[0]
    clips = torch.randn(batch, 3, *shape[1:])
    model = ClipRecognizer(recognizer).eval()
    session = onnx_session(path, threads=threads)
    feed = {INPUT_NAME: clips.numpy()}

    def run_torch():
        with torch.no_grad():
            model(clips)

    results = {'pytorch': timed_calls(run_torch, iters)}
    if getattr(recognizer.backbone, 'impl', 'reference') != 'reference':
        with reference_path(model):
            results['pytorch, reference path'] = timed_calls(run_torch, iters)
    results['onnxruntime'] = timed_calls(
        lambda: session.run(['scores'], feed), iters)
    print_latency(results, iters, batch, threads, shape)
    return results


def print_latency(results: Dict[str, Tuple[float, float]], iters: int,
                  batch: int, threads: int, shape: Sequence[int]) -> None:
    """Latency per clip of each runtime, and its ratio to onnxruntime."""
    print(f'\nLatency per clip ({iters} runs after 1 warm-up, batch {batch},'
          f' {threads} threads, input {"x".join(map(str, shape[1:]))}):')
    width = max(len(name) for name in results)
    for name, (wall, cpu) in results.items():
        print(f'  {name:<{width}}  {wall / batch:.3f} s wall, '
              f'{cpu / batch:.3f} s CPU')
    ort_wall, ort_cpu = results['onnxruntime']
    for name, (wall, cpu) in results.items():
        if name != 'onnxruntime':
            print(f'  {name} / onnxruntime: {wall / ort_wall:.2f} (wall), '
                  f'{cpu / ort_cpu:.2f} (CPU)')


def export(args: argparse.Namespace) -> Tuple[nn.Module, Tuple[int, ...]]:
    """Build the recognizer and export it; returns it and the input shape
    ``(B, T, H, W)``."""
    require_onnx()
    check_opset(args.opset)
    cfg = load_config(args.config)
    shape = tuple(args.shape or (1, *read_view_protocol(cfg).shape))
    recognizer = build_recognizer(cfg, args.checkpoint)
    start = time.perf_counter()
    export_onnx(
        recognizer,
        args.out,
        shape,
        dynamic_batch=args.dynamic_batch,
        opset=args.opset,
        metadata=dict(config=str(args.config)))
    print(f'Exported {args.out} (opset {args.opset}, input clips '
          f'{"x".join(map(str, (shape[0], 3) + tuple(shape[1:])))}'
          f'{" with a dynamic batch" if args.dynamic_batch else ""}) in '
          f'{time.perf_counter() - start:.1f} s')
    return recognizer, shape


def verify(args: argparse.Namespace, recognizer: nn.Module,
           shape: Tuple[int, ...]) -> None:
    """onnxruntime against PyTorch (two batch sizes for a dynamic batch)."""
    batches = [shape[0], shape[0] + 1] if args.dynamic_batch else [shape[0]]
    diff = verify_onnx(args.out, recognizer, batches, shape[1:],
                       args.tolerance)
    print(f'Verified with onnxruntime (batch '
          f'{", ".join(map(str, batches))}): max |ONNX - PyTorch| = '
          f'{diff:.3g} (tolerance {args.tolerance:g})')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        recognizer, shape = export(args)
        if args.verify:
            verify(args, recognizer, shape)
        if args.benchmark:
            benchmark(recognizer, args.out, shape, args.benchmark,
                      args.threads)
    except ExportError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    except (ImportError, CheckpointError, FileNotFoundError, KeyError,
            ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    return 0
