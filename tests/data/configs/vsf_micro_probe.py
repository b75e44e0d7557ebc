# The micro test config with the test-only probe hooks of tool_test_hooks.py
# (needs tests/data/configs on PYTHONPATH).
_base_ = ['./vsf_micro_2xb2-4x1x1-2e_tinyvideo-rgb.py']

custom_imports = dict(
    imports=['mmsparseformer', 'tool_test_hooks'], allow_failed_imports=False)
custom_hooks = [
    dict(type='RecordSamplesHook'),
    dict(type='CrashAfterEpochHook', epoch=None),
]
