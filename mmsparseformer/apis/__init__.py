"""Inference APIs: build a recognizer from a config, run it on videos."""
from .inference import (VIDEO_EXTENSIONS, InferenceBackend, PyTorchBackend,
                        VideoInferencer, VideoReadError, build_inferencer,
                        collect_videos, infer_videos, load_label_map,
                        topk_entries, with_text_classifier)
from .recognizer import (ClipRecognizer, build_recognizer,
                         load_recognizer_weights)

__all__ = [
    'ClipRecognizer', 'build_recognizer', 'load_recognizer_weights',
    'VIDEO_EXTENSIONS', 'InferenceBackend', 'PyTorchBackend',
    'VideoInferencer', 'VideoReadError', 'build_inferencer',
    'collect_videos', 'infer_videos', 'load_label_map', 'topk_entries',
    'with_text_classifier'
]
