# VideoSparseFormer-nano trained from scratch on Synthetic Motion, the
# built-in dataset of `make demo` (tools/data/synthetic/README.md): four
# classes (shapes moving right, left, down or up over textured, cluttered
# backgrounds) that no single frame tells apart. 8 frames of 64x64, sized
# for 2 CPU cores: ~98 % top-1 in about 75 s of training (docs/demo.md).
# Its single-frame control: videosparseformer-nano_1xb16-1x1x1-3e_*.py.
_base_ = ['../../_base_/default_runtime.py']

# A reduced VideoSparseFormer (0.75 M parameters with the head; no drop
# path, the default of an arch dict).
arch = dict(
    conv_channels=32,
    num_tokens=16,
    num_points=16,
    focus_dims=64,
    cortex_dims=128,
    focus_repeats=4,
    cortex_depth=2,
    sampling_units=(0, 1),
    num_heads=8,
    mlp_ratio=4)
num_classes = 4
model = dict(
    type='Recognizer3D',
    backbone=dict(type='VideoSparseFormer', arch=arch, replicates=2),
    cls_head=dict(
        type='SparseFormerHead',
        num_classes=num_classes,
        in_channels=128,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[127.5, 127.5, 127.5],
        std=[64., 64., 64.],
        format_shape='NCTHW'))

# dataset settings: written by
# tools/data/synthetic/generate_synthetic_motion.py
# (clips of 16 frames, 64x64; the Resize is a no-op on them and sizes other
# videos for tools/infer.py). No flips or crops: a horizontal flip would turn
# 'right' into 'left'.
dataset_type = 'VideoDataset'
data_root = 'data/synthetic'
data_root_train = f'{data_root}/videos_train'
data_root_val = f'{data_root}/videos_val'
data_root_test = f'{data_root}/videos_test'
ann_file_train = f'{data_root}/synthetic_motion_train_list_videos.txt'
ann_file_val = f'{data_root}/synthetic_motion_val_list_videos.txt'
ann_file_test = f'{data_root}/synthetic_motion_test_list_videos.txt'
clip_len = 8

file_client_args = dict(io_backend='disk')
train_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1,
         num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=1,
         num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = val_pipeline

train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root_train),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root_val),
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root_test),
        pipeline=test_pipeline,
        test_mode=True))

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

max_epochs = 3
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
    val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.),
    clip_grad=dict(max_norm=5., norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-5,
         by_epoch=True, begin=1, end=max_epochs, convert_to_iter_based=True)
]

default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=1, save_best=None),
    logger=dict(interval=25))
randomness = dict(seed=0)
# VideoDataset: no replaced videos for the runtime's UnreadableVideoHook
custom_hooks = []

auto_scale_lr = dict(enable=False, base_batch_size=16)
