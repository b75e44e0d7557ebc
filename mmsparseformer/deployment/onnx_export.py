"""Export a recognizer to ONNX and check it with ONNX Runtime.

The exported graph is :class:`~mmsparseformer.models.ClipRecognizer`: input
``clips`` ``(B, 3, T, H, W)`` float32, normalised as the model's data
preprocessor does (its mean and std are stored in the file's metadata),
outputs ``scores`` (softmax) and ``logits``, both ``(B, num_classes)``.
Normalisation stays outside the graph so that ``tools/infer.py`` feeds the
ONNX model exactly what it feeds the PyTorch model.

VideoSparseFormer is exported through its reference path (3D convolution,
``grid_sample``): ONNX has 5-D (trilinear) ``GridSample`` from opset 20,
which ONNX Runtime runs natively. The TorchScript-based exporter
(``dynamo=False``) is used: it needs no extra package and handles this
model.
"""
import contextlib
import json
import os
import os.path as osp
import warnings
from typing import Dict, Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from ..models import ClipRecognizer
from ..ops import MultiImplOp

#: ONNX opset that introduced 5-D (volumetric) GridSample.
MIN_OPSET = 20
INPUT_NAME = 'clips'
OUTPUT_NAMES = ('scores', 'logits')


class ExportError(RuntimeError):
    """The model cannot be exported as asked."""


def require_onnx():
    """``(onnx, onnxruntime)``, or an error that says how to install them."""
    try:
        import onnx
        import onnxruntime
    except ImportError as err:
        raise ImportError(
            f'ONNX export and inference need onnx and onnxruntime ({err}); '
            'install them with: pip install -e .[deploy]') from err
    return onnx, onnxruntime


def max_exporter_opset() -> int:
    """The newest opset the TorchScript-based exporter writes."""
    try:
        from torch.onnx._constants import ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET
        return int(ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET)
    except ImportError:  # older torch
        return MIN_OPSET


def check_opset(opset: int) -> None:
    """A clear error for an opset that cannot hold the model."""
    if opset < MIN_OPSET:
        raise ExportError(
            f'opset {opset} is too old: VideoSparseFormer samples its '
            'features with 5-D (trilinear) GridSample, which ONNX has from '
            f'opset {MIN_OPSET}; use --opset {MIN_OPSET} or newer')
    newest = max_exporter_opset()
    if opset > newest:
        raise ExportError(f'opset {opset} is newer than torch '
                          f'{torch.__version__}\'s exporter supports '
                          f'({newest})')


@contextlib.contextmanager
def reference_path(model: nn.Module) -> Iterator[nn.Module]:
    """Switch every op with several implementations to its reference (3D
    convolution, ``grid_sample``) for the export, and back."""
    switched = [(module, module.impl) for module in model.modules()
                if isinstance(module, MultiImplOp)]
    for module, _ in switched:
        module.impl = 'reference'
    try:
        yield model
    finally:
        for module, impl in switched:
            module.impl = impl


def preprocessor_metadata(recognizer: nn.Module) -> Dict[str, str]:
    """Normalisation of the model's data preprocessor, for the metadata."""
    preprocessor = getattr(recognizer, 'data_preprocessor', None)
    meta = {}
    for key in ('mean', 'std'):
        value = getattr(preprocessor, key, None)
        if isinstance(value, torch.Tensor):
            meta[key] = json.dumps([round(float(v), 4)
                                    for v in value.flatten()])
    fmt = getattr(preprocessor, 'format_shape', None)
    if fmt:
        meta['format_shape'] = fmt
    return meta


def export_onnx(recognizer: nn.Module,
                out: str,
                shape: Sequence[int],
                dynamic_batch: bool = False,
                opset: int = MIN_OPSET,
                metadata: Optional[Dict[str, str]] = None) -> str:
    """Export a recognizer as ``clips -> (scores, logits)``.

    Args:
        recognizer (nn.Module): A built MMAction2 recognizer (eval mode).
        out (str): The ``.onnx`` file to write.
        shape (Sequence[int]): ``(B, T, H, W)`` of the example input.
        dynamic_batch (bool): Make the batch axis dynamic.
        opset (int): ONNX opset, at least :data:`MIN_OPSET`.
        metadata (dict, optional): Extra ``metadata_props`` entries.
    """
    onnx, _ = require_onnx()
    check_opset(opset)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f'shape must be B T H W (positive), got {shape}')
    out_dir = osp.dirname(osp.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    batch, frames, height, width = (int(v) for v in shape)
    clips = torch.randn(batch, 3, frames, height, width)
    model = ClipRecognizer(recognizer).eval()
    axes = {name: {0: 'batch'} for name in (INPUT_NAME, ) + OUTPUT_NAMES}
    with reference_path(model), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # tracer warnings on shape ints
        torch.onnx.export(
            model, (clips, ),
            out,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=axes if dynamic_batch else None,
            do_constant_folding=True)
    proto = onnx.load(out)
    props = dict(
        preprocessor_metadata(recognizer),
        input='clips (B, 3, T, H, W) float32, normalised: (x - mean) / std',
        outputs='scores = softmax(logits), logits; (B, num_classes)',
        clip_shape=json.dumps([3, frames, height, width]),
        num_classes=str(_num_classes(recognizer)),
        average_clips=str(
            getattr(getattr(recognizer, 'cls_head', None), 'average_clips',
                    None)),
        dynamic_batch=str(bool(dynamic_batch)),
        exporter=f'torch {torch.__version__} (TorchScript), opset {opset}')
    props.update(metadata or {})
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, out)
    return out


def _num_classes(recognizer: nn.Module) -> Optional[int]:
    return getattr(getattr(recognizer, 'cls_head', None), 'num_classes', None)


def onnx_session(path: str, device: str = 'cpu',
                 threads: Optional[int] = None):
    """An ONNX Runtime session on the CPU or CUDA."""
    _, ort = require_onnx()
    if not osp.isfile(path):
        raise FileNotFoundError(f'ONNX file not found: {path}')
    kind = torch.device(device).type
    if kind == 'cuda':
        if 'CUDAExecutionProvider' not in ort.get_available_providers():
            raise RuntimeError(
                'onnxruntime has no CUDAExecutionProvider here (install '
                'onnxruntime-gpu for --device cuda with --backend '
                'onnxruntime)')
        index = torch.device(device).index or 0
        providers = [('CUDAExecutionProvider', dict(device_id=index)),
                     'CPUExecutionProvider']
    else:
        providers = ['CPUExecutionProvider']
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(
            path, sess_options=options, providers=providers)
    except Exception as err:
        raise RuntimeError(f'onnxruntime cannot load {path}: {err}') from err


def verify_onnx(path: str,
                recognizer: nn.Module,
                batch_sizes: Sequence[int],
                clip_shape: Tuple[int, int, int],
                tolerance: float = 1e-4,
                seed: int = 0) -> float:
    """Run the ONNX file and the PyTorch model on the same random clips for
    each batch size; returns the largest absolute difference of ``scores``
    and ``logits``, and raises :class:`ExportError` above ``tolerance``."""
    session = onnx_session(path)
    model = ClipRecognizer(recognizer).eval()
    generator = torch.Generator().manual_seed(seed)
    worst = 0.
    for batch in batch_sizes:
        clips = torch.randn(batch, 3, *clip_shape, generator=generator)
        with torch.no_grad():
            expected = [t.numpy() for t in model(clips)]
        outputs = session.run(list(OUTPUT_NAMES),
                              {INPUT_NAME: clips.numpy()})
        for name, got, want in zip(OUTPUT_NAMES, outputs, expected):
            if got.shape != want.shape:
                raise ExportError(f'{name}: ONNX Runtime gives shape '
                                  f'{got.shape}, PyTorch {want.shape} '
                                  f'(batch {batch})')
            worst = max(worst, float(np.abs(got - want).max()))
    if worst > tolerance:
        raise ExportError(f'ONNX Runtime differs from PyTorch by {worst:.3g}'
                          f' (more than {tolerance:g})')
    return worst
