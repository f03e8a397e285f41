# Molecule scenarios on podman (included by the top Makefile).
#   make molecule              every scenario (what `make test` runs)
#   make molecule-default      one scenario; also molecule-schedule, ...
#   make molecule-image        build the Debian 12 and Debian 13 base images (cached; FORCE=1 rebuilds)
# The S3 endpoint is a moto server on the controller, started before and stopped after the scenarios.

MOLECULE_SCENARIOS ?= default schedule restore fleet
MOLECULE_S3_PORT ?= 5599
export MOLECULE_S3_PORT

.PHONY: molecule molecule-image molecule-s3-start molecule-s3-stop $(addprefix molecule-,$(MOLECULE_SCENARIOS))

# Debian 12 (PostgreSQL 15) for every scenario; Debian 13 (PostgreSQL 17) for the fleet's second host
molecule-image: sysdeps
	molecule/image/build.sh
	DEBIAN_SUITE=trixie CHECKNINER_MOLECULE_IMAGE=localhost/checkniner-debian13:latest molecule/image/build.sh

molecule-s3-start: venv
	PYTHON=$(CURDIR)/$(BIN)/python molecule/shared/moto.sh start

molecule-s3-stop:
	molecule/shared/moto.sh stop

# All scenarios against one moto server; it is stopped whatever the outcome.
molecule: venv sysdeps molecule-image
	@PYTHON=$(CURDIR)/$(BIN)/python molecule/shared/moto.sh start
	@trap 'molecule/shared/moto.sh stop' EXIT; \
	for s in $(MOLECULE_SCENARIOS); do \
	  start=$$(date +%s); \
	  $(BIN)/molecule test -s "$$s"; \
	  echo "molecule scenario $$s passed in $$(( $$(date +%s) - start ))s"; \
	done

$(addprefix molecule-,$(MOLECULE_SCENARIOS)): molecule-%: venv sysdeps molecule-image
	@PYTHON=$(CURDIR)/$(BIN)/python molecule/shared/moto.sh start
	@trap 'molecule/shared/moto.sh stop' EXIT; $(BIN)/molecule test -s "$*"
