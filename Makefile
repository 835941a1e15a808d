# Two commands on a fresh machine with python3 and make: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.edgekit-installed

.PHONY: demo test install browser compiler sshd clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) setup.cfg pyproject.toml
	@echo "installing edgekit[full,test] into $(VENV): TensorFlow and friends, about 2 minutes on a fresh machine"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar on -e '.[full,test]'
	touch $(STAMP)

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

test: $(STAMP) browser compiler sshd
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) demo-out build *.egg-info
