"""VideoSparseFormer and its heads, registered in MMAction2's ``MODELS``."""
from .backbones import VideoSparseFormer
from .clip_recognizer import ClipRecognizer
from .heads import SparseFormerHead, ZeroShotHead
from .sparseformer_unit import SparseFormerUnit

__all__ = [
    'ClipRecognizer', 'SparseFormerHead', 'SparseFormerUnit',
    'VideoSparseFormer', 'ZeroShotHead'
]
