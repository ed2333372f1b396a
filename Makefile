# The two commands of the README: `make run` (the demo workflow) and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test lint dry-run bench gallery clean install-profile same-bytes check-resources \
	rehearsal

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/report.html

test: $(STAMP)
	$(BIN)/python -m pytest

dry-run: $(STAMP)
	$(BIN)/snakemake -n

lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/ruff check src tests workflow/scripts bench
	$(BIN)/ruff format --check src tests workflow/scripts bench

bench: $(STAMP)
	$(BIN)/python bench/attribution.py

check-resources: $(STAMP)  # after make run: every job's peak memory within its declared mem_mb
	$(BIN)/python -m txai.resources .

rehearsal: $(STAMP)  # paper.yaml's DAG at the paper's dimensions on this CPU (README)
	$(BIN)/python -m txai.rehearsal rehearsal --cores 2

BASE ?= HEAD
same-bytes: $(STAMP)  # a refactor's proof: the same result bytes as at BASE (tests/same_bytes.sh)
	bash tests/same_bytes.sh $(BASE)

GALLERY := $(addprefix results/figures/,fig1.png fig2.png fig3.png fig4.png fig5.png) \
	results/report/scorecard.png

gallery: $(STAMP)  # the README's small copies of the demo's figures, after make run
	$(BIN)/python -m txai.gallery $(GALLERY) docs/gallery

# profiles/slurm as `snakemake --profile slurm`, in the user config folder Snakemake searches
# ($XDG_CONFIG_HOME/snakemake when that is an absolute path, else ~/.config/snakemake).
# A profile already there is left as it is.
install-profile:
	@base="$${XDG_CONFIG_HOME:-}"; case "$$base" in /*) ;; *) base="$$HOME/.config" ;; esac; \
	target="$$base/snakemake/slurm"; \
	if [ -e "$$target" ]; then \
	  echo "$$target exists and was left unchanged. Either run with this project's profile:"; \
	  echo "  snakemake --profile $(CURDIR)/profiles/slurm"; \
	  echo "or merge its partition routing (slurm-partition-config, partitions.yaml), retries,"; \
	  echo "requeue and job limits from $(CURDIR)/profiles/slurm/ into $$target."; \
	else \
	  mkdir -p "$$base/snakemake" && cp -R profiles/slurm "$$target"; \
	  echo "Installed $$target: edit partitions.yaml and the account, then snakemake --profile slurm"; \
	fi

clean:
	rm -rf results/* logs benchmarks .snakemake
	touch results/.gitkeep
