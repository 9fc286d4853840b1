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

.PHONY: book test data install freeze clean

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

test: data
	$(BIN)/python -m pytest tests --nbval-lax notebooks -p no:cacheprovider

# Re-pin requirements.txt from what is installed in the virtual environment.
freeze: install
	{ sed -n 1p requirements.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -iv '^kdrepro'; } > requirements.txt.new
	mv requirements.txt.new requirements.txt

clean:
	rm -rf _build
