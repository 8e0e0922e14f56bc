package localrunner

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
)

// Mux sends proxy events to different handlers by resource, as API Gateway sends different resources
// to different Lambda functions (GET /health and GET /auth/config have a function of their own in
// the stack). It routes on
// the resource template, not the path, because the path may keep the /api base path.
type Mux struct {
	// Resources maps a resource template (like "/health") to its handler.
	Resources map[string]ProxyHandler
	// Default handles every other path.
	Default ProxyHandler
}

// Handle implements ProxyHandler.
func (m Mux) Handle(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	if h, ok := m.Resources[req.Resource]; ok {
		return h.Handle(ctx, req)
	}
	return m.Default.Handle(ctx, req)
}
