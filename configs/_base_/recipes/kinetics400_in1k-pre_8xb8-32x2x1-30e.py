# Kinetics-400 recipe of VideoSparseFormer: everything but the model.
# The configs in configs/recognition/videosparseformer/ combine it with a model
# base (configs/_base_/models/video_sparseformer_{tiny,small,base}.py).
#
# Where the numbers come from:
#   [paper]  SparseFormer (Gao et al., ICLR 2024), video classification:
#            ImageNet-1K SparseFormer inflated with R=8 replicates, 32-frame
#            clips, 224x224 input, tested with 4 clips x 3 crops (the views of
#            its "GFLOPs x views").
#   [swin]   MMAction2's Video Swin K400 configs, the closest MMAction2 recipe
#            (ImageNet-1K-pretrained transformer, 32x2x1 clips, 8 GPUs x 8
#            clips, AMP):
#            mmaction::recognition/swin/
#            swin-tiny-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb.py  # noqa: E501
#   [mvit]   MMAction2's MViT K400 config
#            (mmaction::recognition/mvit/
#            mvit-small-p244_32xb16-16x4x1-200e_kinetics400-rgb.py):
#            gradient clipping and no decay on norms/biases.
#   [mmaction] MMAction2's default_runtime.py.
#   [project] choices of this project, explained where they are made.
#
# AMP: pass --amp to tools/train.py / tools/dist_train.sh on GPUs (MMAction2's
# flag: it switches optim_wrapper to AmpOptimWrapper with dynamic loss
# scaling), as [swin] trains. The config itself keeps OptimWrapper so that
# the same file also trains on CPU, where mmengine refuses AmpOptimWrapper.
_base_ = ['mmaction::_base_/default_runtime.py']  # [mmaction]

# dataset settings (paths and list names: MMAction2's K400 layout [swin];
# build them with tools/data/kinetics/, see docs/kinetics400.md)
dataset_type = 'RobustVideoDataset'  # [project] VideoDataset that survives
# unreadable videos (mmsparseformer/datasets/robust_video_dataset.py)
data_root = 'data/kinetics400/videos_train'
data_root_val = 'data/kinetics400/videos_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'
ann_file_test = 'data/kinetics400/kinetics400_val_list_videos.txt'

file_client_args = dict(io_backend='disk')
train_pipeline = [
    dict(type='DecordInit', **file_client_args),
    # 32 frames [paper], every 2nd frame, 1 clip [swin]
    dict(type='SampleFrames', clip_len=32, frame_interval=2, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),  # [swin]
    dict(type='RandomResizedCrop'),  # [swin] (MMAction2's default area range)
    dict(type='Resize', scale=(224, 224), keep_ratio=False),  # 224 [paper]
    dict(type='Flip', flip_ratio=0.5),  # [swin]
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [  # 1 clip, centre crop [swin]
    dict(type='DecordInit', **file_client_args),
    dict(
        type='SampleFrames',
        clip_len=32,
        frame_interval=2,
        num_clips=1,
        test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [  # 4 clips x 3 crops = 12 views [paper], sizes [swin]
    dict(type='DecordInit', **file_client_args),
    dict(
        type='SampleFrames',
        clip_len=32,
        frame_interval=2,
        num_clips=4,
        test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='ThreeCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    batch_size=8,  # x 8 GPUs [swin]
    num_workers=8,  # [swin]
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline,
        # [project] an unreadable training video is logged and replaced by a
        # random other sample, at most 10 tries in a row; UnreadableVideoHook
        # counts them in the log (per epoch and in total)
        max_refetch=10))
val_dataloader = dict(
    batch_size=8,  # [swin]
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root_val),
        pipeline=val_pipeline,
        # [project] validation only monitors a run: unreadable videos are
        # found once when the run starts (decoded in parallel, shared across
        # ranks), left out and listed after every validation, so that a
        # broken file cannot stop a run. Set it to the list written by
        # tools/data/kinetics/check_videos.py to skip the decoding.
        skip_unreadable=True,
        test_mode=True))
test_dataloader = dict(
    batch_size=1,  # [swin]
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root_val),
        pipeline=test_pipeline,
        # [project] the reported accuracy must cover the whole list: an
        # unreadable video is an error naming the file, unless
        # --cfg-options test_dataloader.dataset.skip_unreadable=True (or the
        # path of check_videos.py's list); skipped videos are then listed
        # after the metrics.
        skip_unreadable=False,
        test_mode=True))

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=30, val_begin=1,
    val_interval=3)  # [swin]
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# AdamW [swin]. Learning rates [swin]: 1e-4 for the pretrained network and
# 10x (1e-3) for the new classifier -- [swin] writes this as lr=1e-3 with
# backbone lr_mult=0.1; it is written the other way round here because an
# mmengine custom key on 'backbone' would override the no-decay rules below.
# Weight decay 0.02 [swin tiny/small; base configs override 0.05 as swin
# base], none on norms, biases and other 1-d parameters [mvit] and none on the
# initial RoIs, initial embeddings and offset biases (token queries and
# positions, not weights) [project].
optim_wrapper = dict(
    type='OptimWrapper',  # pass --amp on GPUs (see the top of this file)
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.02),
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        bias_decay_mult=0.,
        flat_decay_mult=0.,  # the sampler's channel/point biases (1-d)
        custom_keys={
            'initial_rois': dict(decay_mult=0.),
            'initial_embeddings': dict(decay_mult=0.),
            'offsets.bias': dict(decay_mult=0.),
            'cls_head.fc_cls.weight': dict(lr_mult=10.),
            'cls_head.fc_cls.bias': dict(lr_mult=10., decay_mult=0.),
        }),
    clip_grad=dict(max_norm=1., norm_type=2))  # [mvit]

param_scheduler = [  # [swin]: 2.5 warmup epochs from 0.1x, cosine to 0
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=2.5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=30,
        eta_min=0,
        by_epoch=True,
        begin=0,
        end=30)
]

default_hooks = dict(
    checkpoint=dict(interval=3, max_keep_ckpts=5),  # [swin]
    logger=dict(interval=100))  # [swin]
# [project] counts unreadable videos in the training log and lists those that
# skip_unreadable left out of a validation or test.
custom_hooks = [dict(type='UnreadableVideoHook')]

# LR scaling for other batch sizes (--auto-scale-lr): 8 GPUs x 8 clips [swin]
auto_scale_lr = dict(enable=False, base_batch_size=64)
