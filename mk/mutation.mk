# Mutation testing of the security-critical packages (docs/mutation.md). Not part of `make test`:
# it runs every package's tests once per mutant (about 25 minutes for the nine packages on 2 cores);
# the scheduled pipeline runs it weekly (SCHEDULED_JOB=weekly-mutation).
#   make mutation                                  all packages, fails under 90 % efficacy
#   make mutation MUTATION_PACKAGES=internal/api   one package
.PHONY: mutation
mutation:
	scripts/mutation.sh $(MUTATION_PACKAGES)
