"""Inference APIs: build a recognizer from a config, run it on videos."""
from ..deployment.backends import InferenceBackend, PyTorchBackend
from ..models import ClipRecognizer
from ..utils.video_io import VIDEO_EXTENSIONS
from .inference import (VideoInferencer, VideoReadError, build_inferencer,
                        check_device, collect_videos, infer_videos,
                        load_label_map, topk_entries, with_text_classifier)
from .recognizer import build_recognizer, load_recognizer_weights

__all__ = [
    'ClipRecognizer', 'build_recognizer', 'load_recognizer_weights',
    'VIDEO_EXTENSIONS', 'InferenceBackend', 'PyTorchBackend',
    'VideoInferencer', 'VideoReadError', 'build_inferencer', 'check_device',
    'collect_videos', 'infer_videos', 'load_label_map', 'topk_entries',
    'with_text_classifier'
]
