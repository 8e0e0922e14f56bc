# Generated reference documentation. `make docs` rewrites it; tests fail when the committed files are
# stale (internal/config: docs/settings.md from the settings catalogue; cmd/caro: docs/cli/ from the
# command tree, by cobra's doc generator).
.PHONY: docs
docs:
	go test -count=1 -run '^TestSettingsReferenceIsCurrent$$' ./internal/config -update
	go test -count=1 -run '^TestCLIReferenceIsCurrent$$' ./cmd/caro -update
