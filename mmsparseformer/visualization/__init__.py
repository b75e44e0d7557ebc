"""Where the tokens look: token tubes and sampling points drawn over clips.

``visualize_clip(config, checkpoint, video)`` returns the rendered arrays;
``tools/visualize_tokens.py`` writes them as a GIF/MP4 and a PNG sheet.
"""
from .clip import (ClipTrace, TokenTubeVisualization, load_recognizer,
                   render_trace, save_visualization, select_columns,
                   select_tokens, trace_clip, visualize_clip)
from .geometry import (AxisMap, crop_map, flip_map, frame_distance,
                       nearest_frame, points_to_original, resize_map,
                       tube_alpha, tubes_to_original)
from .pipeline import (TrackedClip, pipeline_from_config,
                       run_tracked_pipeline, single_view_pipeline, step_map)
from .token_tubes import (animation_frames, contact_sheet, draw_token_tubes,
                          token_colors)
from .writers import write_animation, write_png

__all__ = [
    'ClipTrace', 'TokenTubeVisualization', 'load_recognizer', 'render_trace',
    'save_visualization', 'select_columns', 'select_tokens', 'trace_clip',
    'visualize_clip', 'AxisMap', 'crop_map', 'flip_map', 'frame_distance',
    'nearest_frame', 'points_to_original', 'resize_map', 'tube_alpha',
    'tubes_to_original', 'TrackedClip', 'pipeline_from_config',
    'run_tracked_pipeline', 'single_view_pipeline', 'step_map',
    'animation_frames', 'contact_sheet', 'draw_token_tubes', 'token_colors',
    'write_animation', 'write_png'
]
