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


def parse_args(argv=None):
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
        default=20,
        help='ONNX opset (>= 20: 5-D GridSample; default 20)')
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


def time_per_run(func, iters: int):
    """Wall and CPU seconds per call, after one warm-up call."""
    func()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(iters):
        func()
    return ((time.perf_counter() - wall) / iters,
            (time.process_time() - cpu) / iters)


def benchmark(recognizer, path, shape, iters, threads):
    """PyTorch eager (as configured, and through the reference path the
    ONNX graph follows) against onnxruntime, on one input."""
    import torch

    from mmsparseformer.apis import ClipRecognizer
    from mmsparseformer.deployment import INPUT_NAME, onnx_session
    from mmsparseformer.deployment.onnx_export import reference_path
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

    results = {'pytorch': time_per_run(run_torch, iters)}
    if getattr(recognizer.backbone, 'fast_path', False):
        with reference_path(model):
            results['pytorch, reference path'] = time_per_run(
                run_torch, iters)
    results['onnxruntime'] = time_per_run(
        lambda: session.run(['scores'], feed), iters)
    print(f'\nLatency per clip ({iters} runs after 1 warm-up, batch {batch},'
          f' {threads} threads, input {"x".join(map(str, shape[1:]))}):')
    width = max(len(name) for name in results)
    for name, (wall, cpu) in results.items():
        print(f'  {name:<{width}}  {wall / batch:.3f} s wall, '
              f'{cpu / batch:.3f} s CPU')
    for name in results:
        if name != 'onnxruntime':
            print(f'  {name} / onnxruntime: '
                  f'{results[name][0] / results["onnxruntime"][0]:.2f} '
                  f'(wall), '
                  f'{results[name][1] / results["onnxruntime"][1]:.2f} (CPU)')
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    import mmsparseformer  # noqa: F401  (compat fixes, registries)
    from mmsparseformer.analysis import load_config, read_view_protocol
    from mmsparseformer.apis import build_recognizer
    from mmsparseformer.checkpoint_io import CheckpointError
    from mmsparseformer.deployment import (ExportError, check_opset,
                                           export_onnx, require_onnx,
                                           verify_onnx)
    try:
        require_onnx()
        check_opset(args.opset)
        cfg = load_config(args.config)
        shape = args.shape or (1, *read_view_protocol(cfg).shape)
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
        if args.verify:
            batches = [shape[0], shape[0] + 1] if args.dynamic_batch else [
                shape[0]
            ]
            diff = verify_onnx(args.out, recognizer, batches, shape[1:],
                               args.tolerance)
            print(f'Verified with onnxruntime (batch '
                  f'{", ".join(map(str, batches))}): max |ONNX - PyTorch| = '
                  f'{diff:.3g} (tolerance {args.tolerance:g})')
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


if __name__ == '__main__':
    sys.exit(main())
