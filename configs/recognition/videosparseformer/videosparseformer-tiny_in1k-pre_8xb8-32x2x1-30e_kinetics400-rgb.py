# VideoSparseFormer-Tiny on Kinetics-400: ImageNet-1K SparseFormer v1 tiny
# inflated to 8 tubes per token, 32x2x1 clips, 8 GPUs x 8 clips, 30 epochs;
# tested on 4 clips x 3 crops. The small and base configs inherit this one.
#
# Where the numbers come from:
#   [paper] SparseFormer (Gao et al., ICLR 2024), video classification:
#           32-frame clips of 224x224, 8 replicates, tested with 4 clips x 3
#           crops (the views of its "GFLOPs x views");
#   [swin]  MMAction2's Video Swin Kinetics-400 configs, the closest
#           MMAction2 recipe (ImageNet-1K pretrained transformer, 32x2x1
#           clips, 8 GPUs x 8 clips): mmaction::recognition/swin/
#           swin-tiny-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb.py  # noqa: E501
#   [project] this project's choices, explained where they are made.
# The model and the schedule cite theirs in their own files.
_base_ = [
    '../../_base_/models/video_sparseformer_tiny.py',
    '../../_base_/schedules/adamw_30e_warmup-cosine.py',
    '../../_base_/default_runtime.py'
]

# The ImageNet-1K SparseFormer v1 checkpoint [paper]: any official layout
# (library "converted" files or the ImageNet-release files) or a converted
# one; it is inflated to replicates=8 when loaded. The backbone loads it, and
# the head takes its final norm (the 1000-class classifier is dropped).
# This variable is resolved when the file is read, so --cfg-options
# pretrained=... changes nothing; override both users instead:
#   --cfg-options model.backbone.pretrained=PATH \
#                 model.cls_head.init_cfg.checkpoint=PATH
# and to train from scratch:
#   --cfg-options model.backbone.pretrained=None model.cls_head.init_cfg=None
pretrained = 'checkpoints/sparseformer_v1_tiny.pth'
model = dict(
    backbone=dict(pretrained=pretrained),
    cls_head=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

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

default_hooks = dict(
    checkpoint=dict(interval=3, max_keep_ckpts=5),  # [swin]
    logger=dict(interval=100))  # [swin]

# LR scaling for other batch sizes (--auto-scale-lr): 8 GPUs x 8 clips [swin]
auto_scale_lr = dict(enable=False, base_batch_size=64)
