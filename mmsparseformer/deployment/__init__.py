"""Deployment: inference backends, ONNX export and ONNX Runtime inference
(onnx and onnxruntime come with the extra ``deploy``)."""
from .backends import InferenceBackend, PyTorchBackend
from .onnx_export import (INPUT_NAME, MIN_OPSET, OUTPUT_NAMES, ExportError,
                          check_opset, export_onnx, onnx_session,
                          reference_path, require_onnx, verify_onnx)
from .onnxruntime_backend import OnnxRuntimeBackend

__all__ = [
    'InferenceBackend', 'PyTorchBackend', 'OnnxRuntimeBackend', 'INPUT_NAME',
    'MIN_OPSET', 'OUTPUT_NAMES', 'ExportError', 'check_opset', 'export_onnx',
    'onnx_session', 'reference_path', 'require_onnx', 'verify_onnx'
]
