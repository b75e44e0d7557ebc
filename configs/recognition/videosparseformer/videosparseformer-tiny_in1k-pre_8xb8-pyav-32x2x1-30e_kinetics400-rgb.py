# VideoSparseFormer-Tiny on Kinetics-400, decoded with the seeking PyAV
# decoder instead of decord. The frames are the same (FFmpeg decodes both;
# equal bit for bit in tests/test_data_loading.py); the CPU per clip is
# lower because only the sampled frames are converted to RGB, with one
# cached converter. Measured effect: docs/data_loading.md.
# Source: mmsparseformer/datasets/pyav_loading.py (PyAVSeekInit,
# PyAVSeekDecode: MMAction2's PyAVInit/PyAVDecode with decord's seeking).
_base_ = ['videosparseformer-tiny_in1k-pre_8xb8-32x2x1-30e_kinetics400-rgb.py']

file_client_args = dict(io_backend='disk')
train_pipeline = [  # the recipe's, with the PyAV pair for DecordInit/Decode
    dict(type='PyAVSeekInit', **file_client_args),
    dict(type='SampleFrames', clip_len=32, frame_interval=2, num_clips=1),
    dict(type='PyAVSeekDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='PyAVSeekInit', **file_client_args),
    dict(
        type='SampleFrames',
        clip_len=32,
        frame_interval=2,
        num_clips=1,
        test_mode=True),
    dict(type='PyAVSeekDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='PyAVSeekInit', **file_client_args),
    dict(
        type='SampleFrames',
        clip_len=32,
        frame_interval=2,
        num_clips=4,
        test_mode=True),
    dict(type='PyAVSeekDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='ThreeCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
