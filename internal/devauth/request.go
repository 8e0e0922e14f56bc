package devauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/carohealth/platform/internal/strictjson"
)

// MaxRequestBytes bounds the body of a token request.
const MaxRequestBytes = 4 << 10

// tokenRequestBody is the JSON body of POST /dev/token. Both tenantId (the documented name) and
// tenant_id (what the front end's sign-in form sends) are accepted; roles may be a JSON array or a
// comma-separated string.
type tokenRequestBody struct {
	Sub              string          `json:"sub"`
	TenantID         string          `json:"tenantId"`
	TenantIDSnake    string          `json:"tenant_id"`
	Roles            json.RawMessage `json:"roles"`
	ExpiresInSeconds *int64          `json:"expiresInSeconds"`
	Audience         string          `json:"audience"`
}

// ParseRequest decodes a POST /dev/token body strictly (strictjson: field names exact, each once, no
// unknown field) into a Request.
func ParseRequest(r io.Reader) (Request, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxRequestBytes+1))
	if err != nil {
		return Request{}, fmt.Errorf("read token request: %w", err)
	}
	if len(body) > MaxRequestBytes {
		return Request{}, fmt.Errorf("token request is larger than %d bytes", MaxRequestBytes)
	}
	var b tokenRequestBody
	if err := strictjson.Decode(body, &b); err != nil {
		return Request{}, fmt.Errorf(`token request is not the expected JSON {"sub","tenantId","roles":[...]}: %v`, err)
	}
	if b.TenantID != "" && b.TenantIDSnake != "" && b.TenantID != b.TenantIDSnake {
		return Request{}, errors.New("token request names two different tenants (tenantId and tenant_id)")
	}
	req := Request{Subject: b.Sub, TenantID: b.TenantID, Audience: b.Audience}
	if req.TenantID == "" {
		req.TenantID = b.TenantIDSnake
	}
	if len(b.Roles) > 0 && string(b.Roles) != "null" {
		var list []string
		var joined string
		switch {
		case json.Unmarshal(b.Roles, &list) == nil:
			req.Roles = list
		case json.Unmarshal(b.Roles, &joined) == nil:
			for _, r := range strings.Split(joined, ",") {
				if r = strings.TrimSpace(r); r != "" {
					req.Roles = append(req.Roles, r)
				}
			}
		default:
			return Request{}, errors.New("token request roles must be an array of strings or a comma-separated string")
		}
	}
	if b.ExpiresInSeconds != nil {
		if *b.ExpiresInSeconds == 0 {
			return Request{}, errors.New("token request expiresInSeconds must not be 0: leave it out for the default hour")
		}
		if *b.ExpiresInSeconds > int64(MaxTTL.Seconds()) || *b.ExpiresInSeconds < -int64(MaxTTL.Seconds()) {
			return Request{}, fmt.Errorf("token request expiresInSeconds must be within ±%d", int64(MaxTTL.Seconds()))
		}
		req.TTL = time.Duration(*b.ExpiresInSeconds) * time.Second
	}
	return req, validateRequest(req)
}
