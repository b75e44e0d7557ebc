"""Deployment: ONNX export and ONNX Runtime inference (extra ``deploy``)."""
from .onnx_export import (INPUT_NAME, MIN_OPSET, OUTPUT_NAMES, ExportError,
                          check_opset, export_onnx, onnx_session,
                          require_onnx, verify_onnx)

__all__ = [
    'INPUT_NAME', 'MIN_OPSET', 'OUTPUT_NAMES', 'ExportError', 'check_opset',
    'export_onnx', 'onnx_session', 'require_onnx', 'verify_onnx'
]
