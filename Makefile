# The README's commands. `make test` and `make render` need only Python 3.11; `make up` needs the
# Pulumi CLI and a cluster (see README).
STACK ?= dev
OUT ?= rendered/$(STACK)
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

# Dev only: local state under the repo and a documented passphrase (the dev stack holds nothing
# that matters). Other stacks use your `pulumi login` backend and your own passphrase or KMS.
ifeq ($(STACK),dev)
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
export PULUMI_CONFIG_PASSPHRASE ?= webapp-dev-only
endif

.PHONY: test lint typecheck render golden bench timeline rehearse rehearse-rotation lock schemas policy up preview destroy kind venv clean branch-up branch-down rotate-db-password

# --no-compile: pip would byte-compile all ~11,000 modules of the AWS and Azure SDKs (two thirds of
# a first install's time); Python compiles the few the program imports when it first imports them.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@echo "venv: installing requirements-dev.txt into $(VENV) (first time only, about a minute)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(PY) -m ruff check components tools tests policy __main__.py

TYPECHECK = $(PY) -m mypy components tools policy/webapp_policy

typecheck: venv
	@test -d .mypy_cache || echo "mypy: first run, about a minute (later runs use .mypy_cache, seconds)"
	$(TYPECHECK)

# The suite runs in pytest-xdist workers, one per core up to 4 (each worker keeps its own cache of
# stack runs, about 350 MB); WORKERS=0 runs it in one process, WORKERS=3 in three.
WORKERS ?= auto
PYTEST = $(PY) -m pytest -n $(WORKERS) --maxprocesses 4

# Lint first (seconds), then the type check beside the suite (about a minute the first time, then
# seconds). Its report is printed after the suite's progress, so the two never interleave; either
# failing fails `make test`.
test: lint
	@log=$$(mktemp) && trap 'rm -f "$$log"' EXIT && \
	echo "typecheck: $(TYPECHECK) runs beside the suite; its report follows the suite's" && \
	{ $(TYPECHECK) >"$$log" 2>&1 & } && typecheck=$$! && \
	{ $(PYTEST); suite=$$?; } ; \
	wait $$typecheck; typed=$$?; \
	echo "---- type check (mypy) ----"; cat "$$log"; \
	test $$typed -eq 0 || echo "make test: the type check failed (its report is just above)"; \
	test $$suite -eq 0 && test $$typed -eq 0

render: venv
	$(PY) -m tools.render --stack "$(STACK)" --out "$(OUT)"

golden: venv
	$(PY) -m tools.golden

# The first `pulumi up` of STACK in time: critical path, total against the slowest resource, and
# every await that could time out (exit 1 if one could).
timeline: venv
	$(PY) -m tools.timeline $(STACK)

# Every release of STACK rehearsed as the controllers would run it: a step table per Rollout
# (weights, endpoints per destination, analysis verdicts), exit 1 on a problem.
rehearse: venv
	$(PY) -m tools.rehearse $(STACK)

# Two rotations of every shared credential of STACK as the controllers would run them: per
# `pulumi up` of the procedure, what each client holds and each server accepts at each phase, the
# window and total per credential; exit 1 on a refused value (README: Rotation).
rehearse-rotation: venv
	$(PY) -m tools.rehearse_rotation $(STACK)

# Re-vendors the CRD schemas at the pinned versions into schemas/crds (PROVENANCE.json). CLONES
# names a clone (or bare mirror) with tags per source repository, e.g.
# CLONES="prometheus-community/helm-charts=../helm-charts/.git cert-manager/cert-manager=... ..."
schemas: venv
	@test -n "$(CLONES)" || { echo "usage: make schemas CLONES=\"owner/name=<git dir> ...\" (tools/schemas.py SOURCES lists the repositories)"; exit 2; }
	$(PY) -m tools.schemas $(foreach clone,$(CLONES),--clone $(clone))

# The policy pack (policy/) over STACK's resources, offline, with policy/config/STACK.json: what
# `pulumi preview --policy-pack policy` would report (exit 1 on a mandatory violation).
policy: venv
	$(PY) -m tools.policy_check $(STACK) --pack $(POLICY_PACK)

# Records STACK's data lock (webapp:dataLock) in its stack file. A change that would replace or
# delete data is recorded only when named, after its safe procedure: ACCEPT=nats.storageClass.
lock: venv
	$(PY) -m tools.lock $(STACK) $(foreach key,$(ACCEPT),--accept $(key))

# Writes rendered/BENCHMARKS.md (git-ignored); `make bench BENCH_OUT=BENCHMARKS.md` updates the committed one.
BENCH_OUT ?= rendered/BENCHMARKS.md
bench: venv
	$(PY) -m tools.bench --out "$(BENCH_OUT)"

kind:
	@command -v kind >/dev/null || { echo "this target needs kind (https://kind.sigs.k8s.io/)"; exit 1; }
	kind get clusters | grep -qx webapp || kind create cluster --name webapp

define need_pulumi
	@command -v pulumi >/dev/null || { echo "this target needs the Pulumi CLI (https://www.pulumi.com/docs/install/)"; exit 1; }
	@mkdir -p .pulumi-state
	pulumi stack select --create $(STACK)
endef

# Every preview and up runs the policy pack with STACK's thresholds (branch stacks: dev's, as
# tools/policy_config.py says); CI points POLICY_PACK at the base branch's checkout, so a change
# cannot loosen the pack it is judged by.
POLICY_PACK ?= policy
POLICY_CONFIG = $(POLICY_PACK)/config/$(if $(filter feature-%,$(STACK)),dev,$(STACK)).json
POLICY = --policy-pack $(POLICY_PACK) --policy-pack-config $(POLICY_CONFIG)
define need_policy
	@test -f $(POLICY_CONFIG) || { echo "no policy config $(POLICY_CONFIG): copy policy/config/dev.json to it (README, A stack of your own)"; exit 1; }
endef

preview: venv
	$(need_pulumi)
	$(need_policy)
	pulumi preview --stack $(STACK) --diff $(POLICY)

up: venv
	$(need_pulumi)
	$(need_policy)
	pulumi up --stack $(STACK) $(POLICY)

destroy: venv
	$(need_pulumi)
	pulumi destroy --stack $(STACK)

# Per-branch environments on the staging AKS cluster: make branch-up BRANCH=feature/login-page
branch-up: venv
	@test -n "$(BRANCH)" || { echo "usage: make branch-up BRANCH=<git branch>"; exit 2; }
	@command -v pulumi >/dev/null || { echo "this target needs the Pulumi CLI"; exit 1; }
	$(PY) -m tools.branch up "$(BRANCH)" --policy-pack $(POLICY_PACK)

branch-down: venv
	@test -n "$(BRANCH)" || { echo "usage: make branch-down BRANCH=<git branch>"; exit 2; }
	@command -v pulumi >/dev/null || { echo "this target needs the Pulumi CLI"; exit 1; }
	$(PY) -m tools.branch down "$(BRANCH)"

# Azure: apply the database password held in Key Vault to the Flexible Server, in place (the
# program never lets a password change replace the server; see components/azure/postgres.py).
rotate-db-password:
	@command -v az >/dev/null && command -v pulumi >/dev/null || { echo "this target needs the az and pulumi CLIs"; exit 1; }
	@vault=$$(pulumi stack output keyVaultName --stack $(STACK)) && \
	server=$$(pulumi stack output databaseServerName --stack $(STACK)) && \
	group=$$(pulumi config get --path webapp:azure.resourceGroup --stack $(STACK)) && \
	password=$$(az keyvault secret show --vault-name "$$vault" --name webapp-database-password --query value -o tsv) && \
	az postgres flexible-server update --resource-group "$$group" --name "$$server" --admin-password "$$password" --output none && \
	echo "password of $$server set from $$vault"

clean:
	rm -rf rendered .pytest_cache .mypy_cache .ruff_cache
