# Two commands on a fresh machine with python3 and make: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.edgekit-installed
# The Raspberry Pi story: a second venv with only edgekit[runtime] (+ test tools, no TensorFlow) runs the runtime and
# device_bench tests on the committed fixtures in tests/data (`make test-runtime`; `make test` runs it too).
RUNTIME_VENV  ?= .venv-runtime
RPY           := $(RUNTIME_VENV)/bin/python
RSTAMP        := $(RUNTIME_VENV)/.edgekit-installed
RUNTIME_TESTS := tests/test_runtime.py tests/test_runtime_cli.py tests/test_runtime_files.py tests/test_device_bench.py \
                 tests/test_interleaved.py tests/test_results.py tests/test_targets.py

.PHONY: demo test test-runtime install browser compiler sshd clean

# A venv at $(1) with edgekit installed (editable) with the extras $(2); its stamp file marks it done.
define venv
$(1)/bin/python:
	$(PYTHON) -m venv $(1)

$(1)/.edgekit-installed: $(1)/bin/python setup.cfg pyproject.toml
	@echo "installing edgekit[$(2)] into $(1) (with TensorFlow: about 2 minutes on a fresh machine)"
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --progress-bar on -e '.[$(2)]'
	touch $$@
endef
comma := ,
$(eval $(call venv,$(VENV),full$(comma)test))
$(eval $(call venv,$(RUNTIME_VENV),runtime$(comma)test))

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m edgekit optimize samples/digits/model.h5 --data samples/digits/data.npz -o demo-out

# The report test renders report.html in headless Chromium; install it (Debian packages) when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "chromium could not be installed: the report rendering test will be skipped"

# The mcu tests compile the generated NAME.cc/NAME.h with the system C/C++ compiler; install g++ when missing.
compiler:
	@command -v c++ >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null; } || \
	  echo "no C++ compiler could be installed: the C source compile tests will be skipped"

# The device tests (issue 14) run a throw-away OpenSSH server on 127.0.0.1; install it (Debian package) when missing.
sshd:
	@command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null; } || \
	  echo "openssh-server could not be installed: the device tests will be skipped"

test: $(STAMP) browser compiler sshd test-runtime
	$(PY) -m pytest -q

test-runtime: $(RSTAMP)
	@$(RPY) -c "import importlib.util as u, sys; sys.exit('TensorFlow is installed in $(RUNTIME_VENV)' if u.find_spec('tensorflow') else 0)"
	$(RPY) -m pytest -q -m "not tensorflow" $(RUNTIME_TESTS)

clean:
	rm -rf $(VENV) $(RUNTIME_VENV) demo-out build *.egg-info
