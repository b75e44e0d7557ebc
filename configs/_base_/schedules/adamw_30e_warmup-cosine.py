# 30 epochs of AdamW: 2.5 warm-up epochs from 0.1x, then cosine to 0, as
# MMAction2's Video Swin Kinetics-400 configs train an ImageNet-1K
# pretrained transformer (recognition/swin/swin-tiny-p244-w877_in1k-pre_
# 8xb8-amp-32x2x1-30e_kinetics400-rgb.py), validating every 3 epochs.
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=30, val_begin=1, val_interval=3)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# Learning rates as Swin's: 1e-4 for the pretrained network and 10x (1e-3)
# for the new classifier. Swin writes this as lr=1e-3 with backbone
# lr_mult=0.1; it is written the other way round here because an mmengine
# custom key on 'backbone' would override the no-decay rules below.
# Weight decay 0.02 (Swin tiny/small); none on norms, biases and other 1-d
# parameters (as MMAction2's MViT config), and none on VideoSparseFormer's
# initial RoIs, initial embeddings and offset biases (token queries and
# positions, not weights). Gradient clipping as MViT's config. AMP: pass
# --amp to tools/train.py on GPUs (it switches to AmpOptimWrapper with
# dynamic loss scaling); OptimWrapper here so that the same file also trains
# on the CPU, where mmengine refuses AmpOptimWrapper.
optim_wrapper = dict(
    type='OptimWrapper',
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
    clip_grad=dict(max_norm=1., norm_type=2))

param_scheduler = [
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
