"""Low-level helpers every layer may use: config reading, video files,
markdown tables. Nothing here imports another part of the package."""
from .config import (ViewProtocol, load_config, model_cfg_without_weights,
                     read_test_pipeline, read_view_protocol)
from .label_map import read_label_map
from .markdown import markdown_table
from .video_io import VIDEO_EXTENSIONS, find_videos, write_lines, write_video

__all__ = [
    'ViewProtocol', 'load_config', 'model_cfg_without_weights',
    'read_test_pipeline', 'read_view_protocol', 'markdown_table',
    'read_label_map', 'VIDEO_EXTENSIONS', 'find_videos', 'write_lines',
    'write_video'
]
