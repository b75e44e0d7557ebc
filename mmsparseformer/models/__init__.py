from .backbones import VideoSparseFormer, VideoSparseFormerArchs
from .clip_recognizer import ClipRecognizer
from .heads import SparseFormerHead

__all__ = [
    'VideoSparseFormer', 'VideoSparseFormerArchs', 'SparseFormerHead',
    'ClipRecognizer'
]
