# VideoSparseFormer-Tiny on Kinetics-400 with repeated augmentation: each
# decoded training video gives 2 clips (same 32 frames, each with its own
# random crop, scale and flip), so a training clip costs about half the
# decoding. The model, the clips it sees one by one (frames per clip, crop
# sizes, scale range, flips) and the optimizer steps are those of the plain
# recipe; what differs is that a batch of 8 clips holds 4 videos, 2 clips
# each. Measured effect: docs/data_loading.md.
# Source: MMAction2's MViT K400 configs (RepeatAugDataset, num_repeats=2,
# sample_once=True, repeat_pseudo_collate), e.g.
#   mmaction::recognition/mvit/mvit-small-p244_32xb16-16x4x1-200e_kinetics400-rgb.py  # noqa: E501
# after Hoffer et al., "Augment your batch" (2019).
_base_ = ['videosparseformer-tiny_in1k-pre_8xb8-32x2x1-30e_kinetics400-rgb.py']

num_repeats = 2
# Batch-size and epoch arithmetic. An item of RobustRepeatAugDataset is one
# video and num_repeats clips, and batch_size counts items, so:
#   clips per GPU and step: 4 videos x 2 = 8, as the plain recipe (8xb8);
#   iterations per epoch: videos / (8 GPUs x 4) = twice the plain recipe's;
#   15 epochs therefore make the same number of optimizer steps and clips
#   (every video 30 times, 2 clips at a time) as the plain 30 epochs.
train_dataloader = dict(
    batch_size=8 // num_repeats,
    # MMAction2's collate for RepeatAugDataset: flattens the clip lists
    collate_fn=dict(type='repeat_pseudo_collate'),
    dataset=dict(
        # RepeatAugDataset that decodes the shared frames once and replaces
        # unreadable videos like RobustVideoDataset
        # (mmsparseformer/datasets/repeat_aug_dataset.py)
        type='RobustRepeatAugDataset',
        num_repeats=num_repeats,
        sample_once=True))  # as MMAction2's MViT K400 configs

max_epochs = 30 // num_repeats
train_cfg = dict(max_epochs=max_epochs, val_interval=2)
# the plain recipe's schedule over the same steps: its 2.5 warmup epochs are
# 1.25 epochs here; the cosine is stepped per iteration (per epoch, as the
# plain recipe does, it would be twice as coarse over 15 epochs)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=2.5 / num_repeats,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=0,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]
default_hooks = dict(checkpoint=dict(interval=2))
# --auto-scale-lr: mmengine counts batch_size (videos) x GPUs = 32 here for
# the same 64 clips per step as the plain recipe's base_batch_size=64
auto_scale_lr = dict(base_batch_size=8 * 8 // num_repeats)
