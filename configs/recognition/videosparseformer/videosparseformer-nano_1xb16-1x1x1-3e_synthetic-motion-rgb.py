# The single-frame control of
# videosparseformer-nano_1xb16-8x1x1-3e_synthetic-motion-rgb.py: the same
# model, data and schedule, but every clip is one frame (random in training,
# the middle one in testing). Synthetic Motion's classes differ only in how
# things move, so this model cannot beat chance: the gap between the two is
# what the tubes read from time.
_base_ = ['./videosparseformer-nano_1xb16-8x1x1-3e_synthetic-motion-rgb.py']

clip_len = 1
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

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
