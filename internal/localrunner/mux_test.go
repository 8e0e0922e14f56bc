package localrunner

import (
	"context"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestMuxRoutesByResource(t *testing.T) {
	named := func(name string) ProxyHandler {
		return ProxyHandlerFunc(func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 200, Body: name}, nil
		})
	}
	m := Mux{Resources: map[string]ProxyHandler{"/health": named("health")}, Default: named("api")}
	for _, path := range []string{"/health", "/api/health", "/health/"} {
		resource, _ := matchRoute(path)
		if path == "/api/health" {
			resource, _ = matchRoute("/health") // API Gateway's resource never has the base path
		}
		resp, _ := m.Handle(context.Background(), events.APIGatewayProxyRequest{Path: path, Resource: resource})
		if resp.Body != "health" {
			t.Errorf("%s (resource %s) went to %s, want health", path, resource, resp.Body)
		}
	}
	resp, _ := m.Handle(context.Background(), events.APIGatewayProxyRequest{Path: "/patients", Resource: "/patients"})
	if resp.Body != "api" {
		t.Errorf("/patients went to %s", resp.Body)
	}
}
