# The two set-up commands (see README.md): `make book` and `make test`.
# Both create the virtual environment if it is missing, install the pinned requirements
# and prepare the data the book needs; nothing else has to be installed by hand.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# The offline mirror beside the project, where there is one (this project's machines).
export KDREPRO_MIRROR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data))
export HF_HUB_OFFLINE ?= 1
BOOK_DATA := mnist
# The CIFAR chapters' smoke runs: the mirror's lossy CIFAR-10 here, else torchvision's CIFAR-10.
CIFAR_DATA := cifar10-jpeg75

.PHONY: book test gpu-test gpu-check data install browser freeze clean

$(BIN)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

install: $(BIN)/.installed

data: install
	$(BIN)/kdrepro data prepare $(BOOK_DATA)
	$(BIN)/kdrepro data prepare $(CIFAR_DATA) --no-download || $(BIN)/kdrepro data prepare cifar10

book: data
	$(BIN)/kdrepro book

# tests/test_browser.py opens the built book in headless Chromium: install Debian's if it is missing
# (KDREPRO_CHROMIUM names another binary; KDREPRO_SKIP_BROWSER=1 skips those tests on purpose).
browser:
	@if [ -n "$$KDREPRO_CHROMIUM" ] || [ "$$KDREPRO_SKIP_BROWSER" = 1 ] || command -v chromium >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "The browser test needs Chromium: apt-get install chromium (or set KDREPRO_CHROMIUM)"; exit 1; fi

test: data browser
	$(BIN)/python -m pytest tests --nbval-lax notebooks -p no:cacheprovider --durations=20

# On a machine with a GPU: the tests of the CUDA path (tests marked `gpu`; skipped by `make test`).
gpu-test: data
	KDREPRO_TEST_GPU=1 $(BIN)/python -m pytest -m gpu tests -p no:cacheprovider -rs

# The one prepared check for a GPU machine (about 8 minutes): CUDA tests, every chapter at smoke, the gpu bench.
gpu-check: data
	$(BIN)/kdrepro gpu-check

# Re-pin requirements.txt from what is installed in the virtual environment.
freeze: install
	{ sed -n 1p requirements.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -iv '^kdrepro'; } > requirements.txt.new
	mv requirements.txt.new requirements.txt

clean:
	rm -rf _build
