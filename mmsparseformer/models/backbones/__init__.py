from .video_sparseformer import ARCH_FIELDS, VideoSparseFormer

__all__ = ['ARCH_FIELDS', 'VideoSparseFormer']
