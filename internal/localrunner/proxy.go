// Package localrunner serves the platform on this machine the way it runs in AWS: /api/... goes
// through the very same handler code as the Lambda (as API Gateway REST proxy events, with the
// Cognito authorizer's claims), everything else is the static front end from web/, and every
// response carries the security headers of internal/headers, the one definition CloudFront uses.
//
// The runner plays the parts of CloudFront (path routing, security headers), API Gateway (prefix
// stripping, proxy events, request IDs, the 10 MB payload limit) and the Cognito authorizer
// (token verification before the handler runs), so tests and the browser attack suite exercise
// the production code paths without an AWS account.
package localrunner

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// ProxyHandler is the API handler as Lambda runs it: one API Gateway REST proxy event in, one
// response out. internal/api's handler satisfies it; tests use stubs.
type ProxyHandler interface {
	Handle(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)
}

// ProxyHandlerFunc adapts a function to ProxyHandler.
type ProxyHandlerFunc func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// Handle calls f.
func (f ProxyHandlerFunc) Handle(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return f(ctx, req)
}

// APIPrefix is the path prefix CloudFront routes to the API (contracts.md); the handler sees paths
// without it.
const APIPrefix = "/api"

// Stage is the stage name local proxy events carry.
const Stage = "local"

// Route is an API Gateway resource template, like /patients/{id}.
type Route string

// Routes are the API's resources (contracts.md). A request path is matched against them to fill
// the proxy event's resource and pathParameters as API Gateway does; an unmatched path is passed
// as the greedy /{proxy+} resource so the handler answers it (with a 404).
var Routes = []Route{
	"/health",
	"/auth/config",
	"/patients",
	"/patients/{id}",
	"/patients/{id}/notes",
	"/notes/{id}",
	"/subjects/{id}/export",
	"/subjects/{id}",
}

// PublicRoutes are the method and resource pairs that API Gateway serves without the Cognito
// authorizer (constructs/api.PublicRoutes). Everything else needs a valid token.
var PublicRoutes = map[string]bool{
	"GET /health":      true,
	"GET /auth/config": true,
}

// matchRoute returns the resource template and path parameters for an API path (prefix stripped).
func matchRoute(path string) (string, map[string]string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for _, r := range Routes {
		tsegs := strings.Split(strings.Trim(string(r), "/"), "/")
		if len(tsegs) != len(segs) {
			continue
		}
		params := map[string]string{}
		ok := true
		for i, t := range tsegs {
			if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
				if segs[i] == "" {
					ok = false
					break
				}
				params[t[1:len(t)-1]] = segs[i]
				continue
			}
			if t != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			if len(params) == 0 {
				params = nil
			}
			return string(r), params
		}
	}
	return "/{proxy+}", map[string]string{"proxy": strings.TrimPrefix(path, "/")}
}

// stripPrefix returns the API path for a request path and whether the request is for the API.
// "/api" and "/api/..." are; "/apix" is not.
func stripPrefix(path string) (string, bool) {
	if path == APIPrefix {
		return "/", true
	}
	if strings.HasPrefix(path, APIPrefix+"/") {
		return path[len(APIPrefix):], true
	}
	return "", false
}

// newRequestID returns a random UUID-shaped request ID, like API Gateway's.
func newRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("localrunner: crypto/rand failed: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ToProxyRequest converts an HTTP request for the API (path already stripped of /api) into the
// REST proxy event API Gateway would send. claims, when not nil, are placed where the Cognito
// authorizer puts them: requestContext.authorizer.claims.
func ToProxyRequest(r *http.Request, apiPath string, body []byte, requestID string, claims map[string]interface{}, now time.Time) events.APIGatewayProxyRequest {
	resource, params := matchRoute(apiPath)
	hdr := map[string]string{}
	mhdr := map[string][]string{}
	for k, vs := range r.Header {
		if len(vs) == 0 {
			continue
		}
		hdr[k] = vs[len(vs)-1]
		mhdr[k] = append([]string(nil), vs...)
	}
	if r.Host != "" {
		hdr["Host"] = r.Host
		mhdr["Host"] = []string{r.Host}
	}
	ip := clientIP(r)
	hdr["X-Forwarded-For"] = ip
	mhdr["X-Forwarded-For"] = []string{ip}
	hdr["X-Forwarded-Proto"] = "http"
	mhdr["X-Forwarded-Proto"] = []string{"http"}

	var q map[string]string
	var mq map[string][]string
	if values := r.URL.Query(); len(values) > 0 {
		q = map[string]string{}
		mq = map[string][]string{}
		for k, vs := range values {
			q[k] = vs[len(vs)-1]
			mq[k] = append([]string(nil), vs...)
		}
	}
	var authorizer map[string]interface{}
	if claims != nil {
		authorizer = map[string]interface{}{"claims": claims}
	}
	ev := events.APIGatewayProxyRequest{
		Resource:                        resource,
		Path:                            apiPath,
		HTTPMethod:                      r.Method,
		Headers:                         hdr,
		MultiValueHeaders:               mhdr,
		QueryStringParameters:           q,
		MultiValueQueryStringParameters: mq,
		PathParameters:                  params,
		RequestContext: events.APIGatewayProxyRequestContext{
			AccountID:         "000000000000",
			ResourceID:        "local",
			Stage:             Stage,
			DomainName:        r.Host,
			RequestID:         requestID,
			ExtendedRequestID: requestID,
			Protocol:          r.Proto,
			Identity:          events.APIGatewayRequestIdentity{SourceIP: ip, UserAgent: r.UserAgent()},
			ResourcePath:      resource,
			Path:              APIPrefix + apiPath,
			Authorizer:        authorizer,
			HTTPMethod:        r.Method,
			RequestTime:       now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch:  now.UnixMilli(),
			APIID:             "local",
		},
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// writeProxyResponse copies a proxy response onto w (headers, status, body), the way API Gateway
// renders a Lambda proxy integration's answer. Security headers are applied afterwards by the
// caller, so a handler can never weaken them.
func writeProxyResponse(w http.ResponseWriter, resp events.APIGatewayProxyResponse) ([]byte, error) {
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("handler response claims base64 but is not: %w", err)
		}
		body = b
	}
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		h.Del(k)
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	return body, nil
}
