# API handler targets (internal/api). bench-api is not part of `make test`: it is a speed comparison,
# handler create+get vs bare driver insert+find on the same FerretDB server.
.PHONY: bench-api
bench-api:
	go run ./internal/api/benchapi -n $(or $(BENCH_API_N),1000)
