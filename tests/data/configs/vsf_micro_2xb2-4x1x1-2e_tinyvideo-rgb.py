# A micro VideoSparseFormer on a tiny generated video set, for the tool tests.
# Paths are relative to the working directory: the tests write the videos to
# ``data/tinyvideo/{train,val}`` (with
# ``mmsparseformer.testing.write_random_videos``) and run the tools there.
# Everything is deterministic (uniform frame sampling, no flips, no dropout)
# so that runs can be compared by value.
_base_ = ['mmaction::_base_/default_runtime.py']

custom_imports = dict(imports=['mmsparseformer'], allow_failed_imports=False)

num_classes = 3
# The values of ``mmsparseformer.testing.MICRO_ARCH`` (a test checks it).
micro_arch = dict(
    conv_channels=16,
    num_tokens=4,
    num_points=8,
    focus_dims=32,
    cortex_dims=64,
    focus_repeats=2,
    cortex_depth=2,
    sampling_units=(0, 1),
    num_heads=4,
    mlp_ratio=2)

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='VideoSparseFormer',
        arch=micro_arch,
        replicates=2,
        drop_path_rate=0.),
    cls_head=dict(
        type='SparseFormerHead',
        num_classes=num_classes,
        in_channels=64,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))

dataset_type = 'VideoDataset'
data_root = 'data/tinyvideo/train'
data_root_val = 'data/tinyvideo/val'
ann_file_train = 'data/tinyvideo/train/list.txt'
ann_file_val = 'data/tinyvideo/val/list.txt'

file_client_args = dict(io_backend='disk')
# ``sample_idx`` travels in the data samples' metainfo so that a hook can
# see which samples a rank read.
meta_keys = ('img_shape', 'img_key', 'video_id', 'timestamp', 'sample_idx')
train_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=4, frame_interval=1, num_clips=1,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=meta_keys)
]
test_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=4, frame_interval=1, num_clips=1,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=meta_keys)
]

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root_val),
        pipeline=test_pipeline,
        test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2, val_begin=1,
                 val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# AdamW (per-parameter moments and step counts) and two schedulers that are
# mid-way at the end of epoch 1, so a resume that loses any of that state
# ends with different values.
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=0.05),
    clip_grad=dict(max_norm=40, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=1, eta_min=1e-5, by_epoch=True,
         begin=1, end=2, convert_to_iter_based=True)
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
randomness = dict(seed=0, deterministic=False)
log_processor = dict(window_size=1)
# The batch size the learning rate above was set for (2 processes x 2).
auto_scale_lr = dict(enable=False, base_batch_size=4)
