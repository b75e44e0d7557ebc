"""VideoSparseFormer's fast path against the direct implementation of the
spec, measured in one process.

The reference path is what the official library does: a 3D convolution and
3D max-pool for the early convolution, ``grid_sample`` for the trilinear
sampling. The fast path (the default of the model) runs the early
convolution per frame in channels-last 2D and samples by a channels-last
gather (``mmsparseformer/models/fast_ops.py``); in float32 CPU inference it
runs the compiled kernels of ``mmsparseformer/ops`` (fused convolution,
small-head attention, sampling + mixing). All compute the same function;
this script prints their times, the ratio, the maximum output difference,
peak memory, and the matmul-rate floor: the model's MACs (every op, as
``tools/analysis/get_flops.py`` counts them) divided by the dense matmul
rate measured in the same run. On CPU, inference is also timed with the
kernels suspended (the fast path in PyTorch ops alone).

Example::

    python tools/analysis/speed_vs_reference.py --arch tiny --batches 1 8
    python tools/analysis/speed_vs_reference.py --device cuda --amp bf16
"""
import argparse
import json
import sys
import time
from contextlib import nullcontext
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F


def parse_args(argv=None):
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


class Classifier(torch.nn.Module):
    """Backbone + head: normalised clips to class scores."""

    def __init__(self, backbone, head) -> None:
        super().__init__()
        self.backbone = backbone
        self.cls_head = head

    def forward(self, clips):
        return self.cls_head(self.backbone(clips))


def build_model(args, device) -> Classifier:
    from mmsparseformer.models import SparseFormerHead, VideoSparseFormer
    from mmsparseformer.testing import MICRO_ARCH
    torch.manual_seed(0)
    arch = MICRO_ARCH if args.arch == 'micro' else args.arch
    backbone = VideoSparseFormer(arch, replicates=args.replicates)
    backbone.init_weights()
    # zero-initialised adaptive layers would leave the geometry static:
    # give them small random weights, as after training
    for unit in backbone.units:
        if unit.sampling:
            torch.nn.init.normal_(unit.offsets.fc.weight, std=0.02)
            torch.nn.init.normal_(unit.roi_adjust.fc.weight, std=0.01)
    head = SparseFormerHead(args.num_classes, backbone.embed_dims)
    head.init_weights()
    return Classifier(backbone, head).to(device).eval()


def autocast(args, device):
    dtype = dict(fp16=torch.float16, bf16=torch.bfloat16).get(args.amp)
    return torch.autocast(
        device_type=device.type, dtype=dtype, enabled=dtype is not None)


def matmul_rate(size: int, device, dtype=torch.float32) -> float:
    """Dense matmul multiply-accumulates per second."""
    from mmsparseformer.analysis.benchmark import timed_calls
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    wall, _ = timed_calls(lambda: a @ b, iters=5, warmup=2, device=device)
    return size**3 / wall


def model_macs(model: Classifier, shape, device) -> int:
    """MACs of one clip, every op counted (the reference path's ops)."""
    from mmsparseformer.analysis import count_flops
    fast = model.backbone.fast_path
    model.backbone.fast_path = False
    try:
        clip = torch.randn(1, 3, *shape, device=device)
        return count_flops(model, clip).total
    finally:
        model.backbone.fast_path = fast


def measure(model, step, args, device, memory) -> dict:
    """Wall / CPU seconds per call and peak memory (MB) of ``step``."""
    from mmsparseformer.analysis.benchmark import (release_memory,
                                                   timed_calls)
    release_memory()
    baseline = memory.current()
    memory.reset()
    wall, cpu = timed_calls(step, args.iters, args.warmup, device)
    return dict(wall=wall, cpu=cpu, peak_mb=memory.peak() - baseline)


def run_inference(model, batch, args, device, memory,
                  kernels: bool) -> dict:
    from mmsparseformer.ops import suspend_cpu_kernels
    clips = torch.randn(batch, 3, *args.shape, device=device)
    paths = [('reference', False, False), ('fast', True, False)]
    if kernels:
        paths.append(('fast_pytorch', True, True))
    results, outputs = {}, {}
    for name, fast, suspended in paths:
        model.backbone.fast_path = fast

        @torch.no_grad()
        def step():
            with autocast(args, device):
                outputs[name] = model(clips).float()

        context = suspend_cpu_kernels() if suspended else nullcontext()
        with context:
            results[name] = measure(model, step, args, device, memory)
    model.backbone.fast_path = True
    results['max_diff'] = max(
        (outputs[name] - outputs['reference']).abs().max().item()
        for name in outputs if name != 'reference')
    return results


def run_training(model, batch, args, device, memory) -> dict:
    clips = torch.randn(batch, 3, *args.shape, device=device)
    labels = torch.randint(args.num_classes, (batch, ), device=device)
    model.train()
    results, grads = {}, {}
    for name, fast in (('reference', False), ('fast', True)):
        model.backbone.fast_path = fast

        def step():
            model.zero_grad(set_to_none=True)
            torch.manual_seed(0)  # same stochastic-depth draws on both paths
            with autocast(args, device):
                loss = F.cross_entropy(model(clips).float(), labels)
            loss.backward()
            grads[name] = model.backbone.initial_rois.grad.clone()

        results[name] = measure(model, step, args, device, memory)
    model.eval()
    results['max_diff'] = (grads['fast'] -
                           grads['reference']).abs().max().item()
    return results


def format_table(rows: List[Dict], floor_per_clip: Optional[float]) -> str:
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
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ['| ' + ' | '.join(c.ljust(w) for c, w in zip(line, widths)) + ' |'
           for line in lines]
    out.insert(1, '|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    return '\n'.join(out)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import mmsparseformer  # noqa: F401
    from mmsparseformer.analysis.benchmark import PeakMemory, warm_up_runtime
    from mmsparseformer.ops import library_name, load_cpu_kernels, load_error
    device = torch.device(args.device)
    kernels = device.type == 'cpu' and args.amp is None and \
        load_cpu_kernels()
    warm_up_runtime(args.device)
    model = build_model(args, device)
    macs = model_macs(model, args.shape, device)
    matmul_dtype = torch.float32 if args.amp is None else dict(
        fp16=torch.float16, bf16=torch.bfloat16)[args.amp]
    rate = matmul_rate(args.matmul_size, device, matmul_dtype)
    floor = macs / rate
    memory = PeakMemory(device)
    rows = []
    start = time.perf_counter()
    for batch in args.batches:
        result = run_inference(model, batch, args, device, memory, kernels)
        rows.append(dict(case=f'inference, batch {batch}', clips=batch,
                         train=False, **result))
    if args.train_batch:
        result = run_training(model, args.train_batch, args, device, memory)
        rows.append(dict(case=f'train step (fwd+bwd), batch '
                         f'{args.train_batch}', clips=args.train_batch,
                         train=True, **result))
    print(f'VideoSparseFormer-{args.arch}, replicates {args.replicates}, '
          f'clip {"x".join(map(str, args.shape))}, device {device}, '
          f'threads {torch.get_num_threads()}, amp {args.amp or "off"}, '
          f'{args.iters} timed iterations after {args.warmup} warm-up')
    print(f'matmul rate {rate / 1e9:.1f} GMAC/s ({args.matmul_size}^2 '
          f'{str(matmul_dtype).replace("torch.", "")} matmul, this run); '
          f'model {macs / 1e9:.2f} GMACs/clip (every op) -> floor '
          f'{floor:.3f} s/clip')
    if device.type == 'cpu':
        print(f'CPU kernels: {library_name()} ' + (
            'in use for inference (training records autograd: PyTorch ops)'
            if kernels else f'not used ({load_error() or "disabled or amp"})'))
    print(format_table(rows, floor))
    print(f'(measured in {time.perf_counter() - start:.0f} s; times are '
          'wall-clock; max |diff| compares class scores for inference, every '
          'fast variant against the reference, and the initial-RoI gradient '
          'for training)')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(args=vars(args), macs=macs, matmul_rate=rate,
                           floor=floor, rows=rows), f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
