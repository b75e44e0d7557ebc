# The micro VideoSparseFormer recognizer of the tool tests (about 0.1 M
# parameters) for the analysis, inference and deployment tools: 5 classes,
# 4-frame clips of 32x32, tested on 2 clips x 3 crops.
_base_ = ['./configs/vsf_micro_2xb2-4x1x1-2e_tinyvideo-rgb.py']

model = dict(cls_head=dict(num_classes=5))

test_pipeline = [
    dict(type='DecordInit'),
    dict(
        type='SampleFrames',
        clip_len=4,
        frame_interval=1,
        num_clips=2,
        test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 32)),
    dict(type='ThreeCrop', crop_size=32),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_dataloader = dict(batch_size=1, dataset=dict(pipeline=test_pipeline))
