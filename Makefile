# The two commands of a new user: `make demo` and `make test`.
# Both create .venv when it is missing and install the pinned set once;
# later runs skip the install (the stamp file is newer than the pins).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmsparseformer-installed
PINS := setup.py requirements/runtime.txt requirements/tests.txt \
	requirements/deploy.txt requirements/zeroshot.txt \
	requirements/constraints.txt
# Extra pip options, e.g. PIP_OPTS="--index-url <PyTorch's CPU wheel index>"
PIP_OPTS ?=

.PHONY: install test demo clean-venv

install: $(STAMP)

$(STAMP): $(PINS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(PIP_OPTS) \
		-c requirements/constraints.txt -e '.[tests,deploy,zeroshot]'
	@# compile the CPU kernels now (the model falls back to PyTorch ops
	@# where they cannot be built, so a failure here is not fatal)
	-$(PY) -m mmsparseformer.ops
	@touch $@

test: $(STAMP)
	$(PY) -m pytest

demo: $(STAMP)
	$(PY) tools/demo.py

clean-venv:
	rm -rf $(VENV)
