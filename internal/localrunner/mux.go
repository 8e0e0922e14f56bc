package localrunner

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
)

// Mux sends proxy events to different handlers by path, as API Gateway sends different resources to
// different Lambda functions (GET /health has a function of its own in the stack).
type Mux struct {
	// Paths maps an exact API path (prefix stripped, like "/health") to its handler.
	Paths map[string]ProxyHandler
	// Default handles every other path.
	Default ProxyHandler
}

// Handle implements ProxyHandler.
func (m Mux) Handle(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	if h, ok := m.Paths[req.Path]; ok {
		return h.Handle(ctx, req)
	}
	return m.Default.Handle(ctx, req)
}
