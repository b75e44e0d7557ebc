"""The command-line tools' logic.

Each ``tools/<name>.py`` (and ``tools/data/.../<name>.py``) runs ``main``
of the module of the same name here, so that the tools are importable and
testable in-process. Every ``main`` takes ``argv`` (default:
``sys.argv[1:]``) and returns the exit status, or raises ``SystemExit`` for
a one-line error.
"""
