"""The ops of SparseFormer, each with its implementations (docs/model.md,
"Units and ops" and "Implementations").

- :mod:`.geometry`: tube geometry as pure float32 functions;
- :mod:`.early_conv`, :mod:`.attention`, :mod:`.roi_adjust`,
  :mod:`.sampling` (sampling + adaptive mixing), :mod:`.mlp`,
  :mod:`.position_encoding`: one module per op; those with several implementations choose one per call from the
  model-wide ``impl`` setting of :mod:`.impl`;
- :mod:`.kernels`: the compiled CPU kernels (``python -m mmsparseformer.ops``
  builds them ahead).
"""
from .attention import TokenAttention
from .early_conv import EarlyConvStem
from .impl import IMPLS, MultiImplOp, check_impl, set_impl
from .mlp import TokenMLP
from .position_encoding import TubePositionEncoding
from .roi_adjust import RoIAdjust
from .sampling import AdaptiveMixing, SamplingOffsets, SparseSampling

__all__ = [
    'IMPLS', 'AdaptiveMixing', 'EarlyConvStem', 'MultiImplOp', 'RoIAdjust',
    'SamplingOffsets', 'SparseSampling', 'TokenAttention', 'TokenMLP',
    'TubePositionEncoding', 'check_impl', 'set_impl'
]
