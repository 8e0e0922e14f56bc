# The local runner: `make local` serves the API (same handler code as the Lambda), the front end
# from web/ and the development token issuer on 127.0.0.1, with its own FerretDB. Ctrl-C stops it.
#   make local LOCAL_ADDR=127.0.0.1:9090          another port
#   make local LOCAL_FLAGS="--mongodb-uri mongodb://127.0.0.1:27017/"
# Scripts wait for the URL in $(LOCAL_READY_FILE) (or pass their own --ready-file).
LOCAL_ADDR ?= 127.0.0.1:8080
LOCAL_READY_FILE ?= $(CARO_CACHE)/local.url
LOCAL_FLAGS ?=
CARO_BIN := $(CARO_CACHE)/bin/caro

.PHONY: local caro-bin
caro-bin:
	@mkdir -p $(CARO_CACHE)/bin
	@go build -o $(CARO_BIN) ./cmd/caro

local: caro-bin
	$(CARO_BIN) local up --addr $(LOCAL_ADDR) --web web --ready-file $(LOCAL_READY_FILE) $(LOCAL_FLAGS)

# The traffic watcher's cost per CloudWatch Logs batch (1000 access-log lines, all rules).
.PHONY: bench-trafficwatch
bench-trafficwatch:
	go test -run='^$$' -bench=CloudWatchLogsBatch -benchtime=20x ./internal/trafficwatch
