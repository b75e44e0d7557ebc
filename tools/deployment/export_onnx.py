"""Export a recognizer to ONNX (``python tools/deployment/export_onnx.py
-h``; the logic is mmsparseformer/cli/export_onnx.py)."""
import sys

from mmsparseformer.cli.export_onnx import main

if __name__ == '__main__':
    sys.exit(main())
