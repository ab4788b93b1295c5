# The README's contract: `make test` and `make demo` each set up what they need themselves.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup test demo release e2e clean-runs help

help:
	@echo "make setup   create $(VENV) (torch first: TORCH=$(TORCH)), install kogner with dev extras"
	@echo "make test    setup + run the test suite (offline)"
	@echo "make demo    setup + KG teacher -> generated data -> training -> evaluation (offline defaults)"
	@echo "make release setup + teacher + entity-disjoint KG data + the release model ($(RELEASE_CONFIG)) + its evaluation"
	@echo "make e2e     browser test of the Gradio demo (installs Debian chromium if missing)"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev,bench,e2e]"
	touch $@

setup: $(VENV)/.installed

test: setup
	$(PY) -m pytest -q tests

demo: setup
	$(PY) -m scripts.demo $(DEMO_ARGS)

# The release model: every annotated training corpus + the entity-disjoint KG data; after training, the threshold is
# chosen on their dev splits and the test splits are scored (all in $(RELEASE_CONFIG)); the model, its card and
# eval_results.json land in runs/release/model. Each step resumes where it stopped.
RELEASE_CONFIG ?= configs/release-cpu.yaml
RELEASE_ARGS ?=
release: setup
	$(PY) data_scripts/build_teacher.py --kg biokg-lite --out runs/teacher
	$(PY) data_scripts/make_bmg_dataset.py --kg biokg-lite --generator template --split entity-disjoint --out runs/data-disjoint
	$(VENV)/bin/kogner-train --config $(RELEASE_CONFIG) --resume_from_checkpoint last $(RELEASE_ARGS)

e2e: setup
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)
	KOGNER_E2E=1 $(PY) -m pytest -q -m e2e tests/test_e2e_browser.py

clean-runs:
	rm -rf runs
