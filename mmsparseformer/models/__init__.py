from .backbones import VideoSparseFormer, VideoSparseFormerArchs
from .heads import SparseFormerHead

__all__ = ['VideoSparseFormer', 'VideoSparseFormerArchs', 'SparseFormerHead']
