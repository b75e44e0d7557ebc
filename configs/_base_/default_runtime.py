# MMAction2's runtime (hooks, logging, visualizer, env) with this project's
# models, datasets and hooks registered, and UnreadableVideoHook: it counts
# the videos RobustVideoDataset replaced in training and lists those
# skip_unreadable left out of a validation or test.
_base_ = ['mmaction::_base_/default_runtime.py']

custom_imports = dict(imports=['mmsparseformer'], allow_failed_imports=False)
custom_hooks = [dict(type='UnreadableVideoHook')]
