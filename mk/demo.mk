# The set-up of `make demo`: one line per step, "already there" or "installed"; what an installer
# prints goes to .cache/logs/setup-<step>.log, named when it fails.
.PHONY: demo-setup
demo-setup:
	@scripts/setup-step.sh node-packages "node packages (CDK CLI, template validator)" \
		'$(MAKE) --no-print-directory -q $(CDK)' '$(MAKE) --no-print-directory $(CDK)'
	@scripts/setup-step.sh local-servers "local servers (FerretDB, local-kms, mongo-tools, Knot)" \
		'scripts/install-servers.sh check' 'scripts/install-servers.sh all'
	@scripts/setup-step.sh caro "caro CLI ($(CARO_BIN))" '' '$(MAKE) --no-print-directory caro-bin' built
