package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/maintenance"
)

// Entrypoint is the api Lambda's handler. It serves API Gateway proxy events with the API handler,
// and runs the audit outbox reconciler on EventBridge scheduled events, so one function both serves
// the API and drains what could not be published inline (schedule it with rate(1 minute)).
type Entrypoint struct {
	API        *Handler
	Reconciler *audit.Reconciler
}

// Invoke dispatches one Lambda event.
func (e *Entrypoint) Invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		HTTPMethod string `json:"httpMethod"`
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("api: the event is not a JSON object: %w", err)
	}
	switch {
	case probe.HTTPMethod != "":
		var req events.APIGatewayProxyRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			return nil, fmt.Errorf("api: malformed API Gateway event: %w", err)
		}
		return e.API.Handle(ctx, req)
	case probe.Source == "aws.events" && probe.DetailType == "Scheduled Event":
		if e.Reconciler == nil {
			return nil, errors.New("api: scheduled event but no reconciler configured")
		}
		return e.scheduled(ctx)
	default:
		return nil, errors.New("api: unsupported event: expected an API Gateway proxy event or an EventBridge scheduled event")
	}
}

// scheduled runs the reconciler, creating the indexes first when this process has not yet (the
// switch was on at its start). A run the maintenance switch stopped is not a failure: what is left
// stays pending for a run after the switch. Any other error fails the invocation so the function's
// error alarm fires; what could not be published stays pending for the next run.
func (e *Entrypoint) scheduled(ctx context.Context) (any, error) {
	if !e.API.indexed.Load() {
		if err := e.API.EnsureIndexes(ctx); err != nil && !errors.Is(err, maintenance.ErrOn) {
			return nil, err
		}
	}
	res, err := e.Reconciler.Run(ctx)
	if errors.Is(err, maintenance.ErrOn) {
		e.API.log.Info("audit reconciler paused by the maintenance switch", "paused", res.Paused)
		return res, nil
	}
	return res, err
}
