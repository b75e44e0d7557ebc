"""ONNX Runtime as an inference backend of :mod:`mmsparseformer.apis`."""
from typing import Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config
from torch import Tensor

from ..utils.config import read_view_protocol
from .backends import InferenceBackend
from .onnx_export import INPUT_NAME, onnx_session


class OnnxRuntimeBackend(InferenceBackend):
    """Logits of an exported recognizer (``tools/deployment/
    export_onnx.py``) with ONNX Runtime.

    Args:
        path (str): The ``.onnx`` file (input ``clips``, output ``logits``).
        device (str): ``'cpu'`` or ``'cuda[:i]'`` (needs onnxruntime-gpu).
        threads (int, optional): Intra-op threads (default: onnxruntime's).
    """
    name = 'onnxruntime'

    def __init__(self,
                 path: str,
                 device: str = 'cpu',
                 threads: Optional[int] = None) -> None:
        self.path = path
        self.session = onnx_session(path, device, threads)
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name: o for o in self.session.get_outputs()}
        if INPUT_NAME not in inputs or 'logits' not in outputs:
            raise ValueError(
                f'{path} is not an export of tools/deployment/export_onnx.py:'
                f' it needs input {INPUT_NAME!r} and output \'logits\', it '
                f'has inputs {list(inputs)} and outputs {list(outputs)}')
        shape = inputs[INPUT_NAME].shape
        batch = shape[0]
        self.fixed_batch = batch if isinstance(batch, int) else None
        self.clip_shape: Tuple = tuple(shape[1:])
        classes = outputs['logits'].shape[-1]
        self.num_classes = classes if isinstance(classes, int) else None

    def check_num_classes(self, num_classes: int) -> None:
        """The config's head and the file must agree on the classes."""
        if self.num_classes is not None and self.num_classes != num_classes:
            raise ValueError(f'{self.path} has {self.num_classes} classes, '
                             f'the config\'s head {num_classes}')

    def check_clip_shape(self, cfg: Config) -> None:
        """The file's clip shape must be what the config's test pipeline
        produces (when the pipeline fixes it)."""
        try:
            expected = (3, ) + read_view_protocol(cfg).shape
        except KeyError:  # the frame size depends on the video
            return
        if tuple(self.clip_shape) != expected:
            raise ValueError(
                f'{self.path} takes clips of shape '
                f'{"x".join(map(str, self.clip_shape))}, the config\'s test '
                f'pipeline gives {"x".join(map(str, expected))}: export it '
                f'with --shape B {" ".join(map(str, expected[1:]))}')

    def logits(self, clips: Tensor) -> Tensor:
        if tuple(clips.shape[1:]) != self.clip_shape:
            raise ValueError(
                f'{self.path} takes clips of shape (B, '
                f'{", ".join(map(str, self.clip_shape))}), the test pipeline '
                f'gives {tuple(clips.shape)}: export with --shape B '
                f'{" ".join(map(str, clips.shape[2:]))}')
        array = np.ascontiguousarray(clips.numpy(), dtype=np.float32)
        (logits, ) = self.session.run(['logits'], {INPUT_NAME: array})
        return torch.from_numpy(logits)
