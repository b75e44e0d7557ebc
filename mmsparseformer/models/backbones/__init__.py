from .video_sparseformer import (VideoSparseFormer, VideoSparseFormerArchs,
                                 resolve_arch)

__all__ = ['VideoSparseFormer', 'VideoSparseFormerArchs', 'resolve_arch']
