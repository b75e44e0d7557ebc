"""Analysis tools: FLOP counting, test protocols, benchmarks, reports."""
from .flops import (EXTRA_FLOP_HANDLES, KIND_NOTES, FlopCount,
                    RecognizerFlops, build_flop_analyzer, count_flops,
                    recognizer_flops)
from .protocol import ViewProtocol, load_config, read_test_pipeline, \
    read_view_protocol

__all__ = [
    'EXTRA_FLOP_HANDLES', 'KIND_NOTES', 'FlopCount', 'RecognizerFlops',
    'build_flop_analyzer', 'count_flops', 'recognizer_flops', 'ViewProtocol',
    'load_config', 'read_test_pipeline', 'read_view_protocol'
]
