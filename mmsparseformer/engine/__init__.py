"""Helpers of the command-line tools: the CPU (gloo) distributed fallback,
one-line errors for mistakes a user can fix, and a visualization hook for
clip recognizers."""
from .distributed import (cpu_model_wrapper_cfg, init_gloo_process_group,
                          needs_cpu_distributed, setup_cpu_distributed)
from .tool_errors import (ToolError, check_checkpoint_file,
                          checkpoint_load_error, report_tool_errors,
                          unregistered_type_error)
from .tool_runner import (add_runner_args, build_test_runner,
                          build_tool_runner, finish_distributed,
                          load_tool_config, parse_runner_args, set_work_dir)
from .visualization_hook import ClipVisualizationHook

__all__ = [
    'ClipVisualizationHook', 'ToolError', 'add_runner_args',
    'build_test_runner', 'build_tool_runner', 'parse_runner_args',
    'set_work_dir', 'check_checkpoint_file', 'finish_distributed', 'load_tool_config',
    'checkpoint_load_error', 'cpu_model_wrapper_cfg',
    'init_gloo_process_group', 'needs_cpu_distributed', 'report_tool_errors',
    'setup_cpu_distributed', 'unregistered_type_error'
]
