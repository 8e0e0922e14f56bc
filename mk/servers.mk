# Local servers the tests run against (FerretDB, local-kms, mongo-tools, Knot DNS), pinned and built
# into .cache/bin by scripts/install-servers.sh; a second run is instant. internal/localstack
# starts them (and runs the script itself when a binary is missing).
.PHONY: servers
servers:
	@scripts/install-servers.sh all

GOTEST_DEPS += servers
