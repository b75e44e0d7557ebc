"""VideoSparseFormer's fast path against the direct implementation of the
spec, measured in one process.

The reference path (``impl='reference'``) is what the official library
does: a 3D convolution and 3D max-pool for the early convolution,
``grid_sample`` for the trilinear sampling. The fast path (``impl='auto'``,
the model's default) runs the PyTorch implementations of the ops
(``impl='pytorch'``: the early convolution per frame in channels-last 2D, a
channels-last gather for the sampling) and, in float32 CPU inference, the
compiled kernels of ``mmsparseformer/ops/csrc`` (fused convolution,
small-head attention, sampling + mixing, linear + GELU). All compute the
same function;
this script prints their times, the ratio, the maximum output difference,
peak memory, and the matmul-rate floor: the model's MACs (every op, as
``tools/analysis/get_flops.py`` counts them) divided by the dense matmul
rate measured in the same run. On CPU, inference is also timed with
``impl='pytorch'`` (the fast path without the kernels).

Example::

    python tools/analysis/speed_vs_reference.py --arch tiny --batches 1 8
    python tools/analysis/speed_vs_reference.py --device cuda --amp bf16
"""
import argparse
import json
import time
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F

from ..analysis.benchmark import (PeakMemory, release_memory, timed_calls,
                                  warm_up_runtime)
from ..analysis.flops import count_flops
from ..models import ClipRecognizer, SparseFormerHead, VideoSparseFormer
from ..ops.kernels import library_name, load_cpu_kernels, load_error
from ..utils.markdown import markdown_table
from ..utils.micro import MICRO_ARCH, randomise_adaptive_layers

#: Stds of the adaptive layers' random weights (as after training).
ADAPTIVE_STD = {'offsets.fc.weight': 0.02, 'roi_adjust.fc.weight': 0.01}
AMP_DTYPES = dict(fp16=torch.float16, bf16=torch.bfloat16)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--arch', default='tiny',
        help="tiny, small, base, or micro (a test-sized arch)")
    parser.add_argument('--replicates', type=int, default=8)
    parser.add_argument(
        '--shape', type=int, nargs=3, default=[32, 224, 224],
        metavar=('T', 'H', 'W'))
    parser.add_argument(
        '--batches', type=int, nargs='+', default=[1, 8],
        help='inference batch sizes')
    parser.add_argument(
        '--train-batch', type=int, default=2,
        help='batch of the training step (0 to skip)')
    parser.add_argument('--num-classes', type=int, default=400)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument(
        '--threads', type=int, default=None,
        help='torch threads (default: torch\'s choice)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--amp', choices=['fp16', 'bf16'], default=None,
        help='run both paths under torch.autocast with this dtype')
    parser.add_argument(
        '--matmul-size', type=int, default=2048,
        help='side of the square matmul that measures the floor rate')
    parser.add_argument('--json', help='also write the results here')
    return parser.parse_args(argv)


def build_model(args: argparse.Namespace,
                device: torch.device) -> ClipRecognizer:
    """VideoSparseFormer and its head, freshly initialised, with small
    random weights in the zero-initialised adaptive layers (which would
    leave the geometry static), as after training."""
    torch.manual_seed(0)
    arch = MICRO_ARCH if args.arch == 'micro' else args.arch
    backbone = VideoSparseFormer(arch, replicates=args.replicates)
    backbone.init_weights()
    randomise_adaptive_layers(backbone, ADAPTIVE_STD)
    head = SparseFormerHead(args.num_classes, backbone.embed_dims)
    head.init_weights()
    return ClipRecognizer.from_parts(backbone, head).to(device).eval()


def autocast(args: argparse.Namespace, device: torch.device):
    """``torch.autocast`` with ``--amp``'s dtype (disabled without)."""
    dtype = AMP_DTYPES.get(args.amp)
    return torch.autocast(
        device_type=device.type, dtype=dtype, enabled=dtype is not None)


def matmul_rate(size: int, device, dtype=torch.float32) -> float:
    """Dense matmul multiply-accumulates per second."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    wall, _ = timed_calls(lambda: a @ b, iters=5, warmup=2, device=device)
    return size**3 / wall


def model_macs(model: ClipRecognizer, shape, device) -> int:
    """MACs of one clip, every op counted (the reference path's ops)."""
    impl = model.backbone.impl
    model.backbone.impl = 'reference'
    try:
        clip = torch.randn(1, 3, *shape, device=device)
        return count_flops(model, clip).total
    finally:
        model.backbone.impl = impl


def measure(model, step, args, device, memory) -> dict:
    """Wall / CPU seconds per call and peak memory (MB) of ``step``."""
    release_memory()
    baseline = memory.current()
    memory.reset()
    wall, cpu = timed_calls(step, args.iters, args.warmup, device)
    return dict(wall=wall, cpu=cpu, peak_mb=memory.peak() - baseline)


def run_inference(model, batch, args, device, memory,
                  kernels: bool) -> dict:
    """Every path's inference time, and the largest score difference of
    the fast variants from the reference."""
    clips = torch.randn(batch, 3, *args.shape, device=device)
    paths = [('reference', 'reference'), ('fast', 'auto')]
    if kernels:
        paths.append(('fast_pytorch', 'pytorch'))
    results, outputs = {}, {}
    for name, impl in paths:
        model.backbone.impl = impl

        @torch.no_grad()
        def step():
            with autocast(args, device):
                outputs[name] = model.forward_logits(clips).float()

        results[name] = measure(model, step, args, device, memory)
    model.backbone.impl = 'auto'
    results['max_diff'] = max(
        (outputs[name] - outputs['reference']).abs().max().item()
        for name in outputs if name != 'reference')
    return results


def run_training(model, batch, args, device, memory) -> dict:
    """A training step (forward and backward) on each path, and the largest
    difference of the initial RoIs' gradients."""
    clips = torch.randn(batch, 3, *args.shape, device=device)
    labels = torch.randint(args.num_classes, (batch, ), device=device)
    model.train()
    results, grads = {}, {}
    for name, impl in (('reference', 'reference'), ('fast', 'auto')):
        model.backbone.impl = impl

        def step():
            model.zero_grad(set_to_none=True)
            torch.manual_seed(0)  # same stochastic-depth draws on both paths
            with autocast(args, device):
                loss = F.cross_entropy(
                    model.forward_logits(clips).float(), labels)
            loss.backward()
            grads[name] = model.backbone.initial_rois.grad.clone()

        results[name] = measure(model, step, args, device, memory)
    model.eval()
    results['max_diff'] = (grads['fast'] -
                           grads['reference']).abs().max().item()
    return results


def format_table(rows: Sequence[Dict],
                 floor_per_clip: Optional[float]) -> str:
    """A markdown table of the measured cases."""
    header = ('case', 'reference s/clip', 'fast s/clip', 'speed-up',
              'fast / floor', 'no kernels s/clip', 'max |diff|',
              'ref peak MB', 'fast peak MB')
    lines = [header]
    for row in rows:
        ref, fast, clips = row['reference'], row['fast'], row['clips']
        floor = '-' if floor_per_clip is None or row['train'] else \
            f'{fast["wall"] / clips / floor_per_clip:.2f}x'
        pytorch = row.get('fast_pytorch')
        pytorch = '-' if pytorch is None else \
            f'{pytorch["wall"] / clips:.3f}'
        lines.append((row['case'], f'{ref["wall"] / clips:.3f}',
                      f'{fast["wall"] / clips:.3f}',
                      f'{ref["wall"] / fast["wall"]:.2f}x', floor, pytorch,
                      f'{row["max_diff"]:.1e}', f'{ref["peak_mb"]:.0f}',
                      f'{fast["peak_mb"]:.0f}'))
    return markdown_table(lines)


def measure_cases(args: argparse.Namespace, model: ClipRecognizer,
                  device: torch.device, kernels: bool) -> List[Dict]:
    """Inference at every batch size, then a training step."""
    memory = PeakMemory(device)
    rows = []
    for batch in args.batches:
        result = run_inference(model, batch, args, device, memory, kernels)
        rows.append(dict(case=f'inference, batch {batch}', clips=batch,
                         train=False, **result))
    if args.train_batch:
        result = run_training(model, args.train_batch, args, device, memory)
        rows.append(dict(case=f'train step (fwd+bwd), batch '
                         f'{args.train_batch}', clips=args.train_batch,
                         train=True, **result))
    return rows


def print_header(args: argparse.Namespace, device: torch.device,
                 rate: float, macs: int, kernels: bool) -> None:
    """The setting, the matmul floor and whether the kernels run."""
    matmul_dtype = AMP_DTYPES.get(args.amp, torch.float32)
    print(f'VideoSparseFormer-{args.arch}, replicates {args.replicates}, '
          f'clip {"x".join(map(str, args.shape))}, device {device}, '
          f'threads {torch.get_num_threads()}, amp {args.amp or "off"}, '
          f'{args.iters} timed iterations after {args.warmup} warm-up')
    print(f'matmul rate {rate / 1e9:.1f} GMAC/s ({args.matmul_size}^2 '
          f'{str(matmul_dtype).replace("torch.", "")} matmul, this run); '
          f'model {macs / 1e9:.2f} GMACs/clip (every op) -> floor '
          f'{macs / rate:.3f} s/clip')
    if device.type == 'cpu':
        print(f'CPU kernels: {library_name()} ' + (
            'in use for inference (training records autograd: PyTorch ops)'
            if kernels else f'not used ({load_error() or "disabled or amp"})'))


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    kernels = device.type == 'cpu' and args.amp is None and \
        load_cpu_kernels()
    warm_up_runtime(args.device)
    model = build_model(args, device)
    macs = model_macs(model, args.shape, device)
    rate = matmul_rate(args.matmul_size, device,
                       AMP_DTYPES.get(args.amp, torch.float32))
    start = time.perf_counter()
    rows = measure_cases(args, model, device, kernels)
    print_header(args, device, rate, macs, kernels)
    print(format_table(rows, macs / rate))
    print(f'(measured in {time.perf_counter() - start:.0f} s; times are '
          'wall-clock; max |diff| compares class scores for inference, every '
          'fast variant against the reference, and the initial-RoI gradient '
          'for training)')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(args=vars(args), macs=macs, matmul_rate=rate,
                           floor=macs / rate, rows=rows), f, indent=2)
    return 0
