"""Analysis: FLOP counting, benchmarks, reports beside the model zoo."""
from .benchmark import timed_calls
from .flops import (EXTRA_FLOP_HANDLES, KIND_NOTES, FlopCount,
                    RecognizerFlops, build_flop_analyzer, count_flops,
                    recognizer_flops)
from .report import ProjectModel, project_model, read_project_models

__all__ = [
    'EXTRA_FLOP_HANDLES', 'KIND_NOTES', 'FlopCount', 'RecognizerFlops',
    'build_flop_analyzer', 'count_flops', 'recognizer_flops', 'timed_calls',
    'ProjectModel', 'project_model', 'read_project_models'
]
