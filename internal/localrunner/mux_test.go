package localrunner

import (
	"context"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestMuxRoutesByExactPath(t *testing.T) {
	named := func(name string) ProxyHandler {
		return ProxyHandlerFunc(func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 200, Body: name}, nil
		})
	}
	m := Mux{Paths: map[string]ProxyHandler{"/health": named("health")}, Default: named("api")}
	for path, want := range map[string]string{"/health": "health", "/health/": "api", "/patients": "api"} {
		resp, _ := m.Handle(context.Background(), events.APIGatewayProxyRequest{Path: path})
		if resp.Body != want {
			t.Errorf("%s went to %s, want %s", path, resp.Body, want)
		}
	}
}
