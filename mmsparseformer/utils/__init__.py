"""Low-level helpers every layer may use: config reading, video files,
markdown tables. Nothing here imports another part of the package."""
from .config import (ViewProtocol, load_config, model_cfg_without_weights,
                     read_test_pipeline, read_view_protocol)
from .markdown import markdown_table
from .video_io import VIDEO_EXTENSIONS, write_lines, write_video

__all__ = [
    'ViewProtocol', 'load_config', 'model_cfg_without_weights',
    'read_test_pipeline', 'read_view_protocol', 'markdown_table',
    'VIDEO_EXTENSIONS', 'write_lines', 'write_video'
]
