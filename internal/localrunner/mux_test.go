package localrunner

import (
	"context"
	"strings"
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
	m.Resources["/auth/config"] = named("health")
	for _, path := range []string{"/auth/config", "/api/auth/config"} {
		resource, _ := matchRoute(strings.TrimPrefix(path, "/api"))
		if resource != "/auth/config" {
			t.Fatalf("%s matched resource %s", path, resource)
		}
		if resp, _ := m.Handle(context.Background(), events.APIGatewayProxyRequest{Path: path, Resource: resource}); resp.Body != "health" {
			t.Errorf("%s went to %s, want the health function", path, resp.Body)
		}
	}
	resp, _ := m.Handle(context.Background(), events.APIGatewayProxyRequest{Path: "/patients", Resource: "/patients"})
	if resp.Body != "api" {
		t.Errorf("/patients went to %s", resp.Body)
	}
}
