package audit_test

import (
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/audit"
)

func TestOperatorActorsNameNoOne(t *testing.T) {
	// GIVEN AWS callers whose session or user names are a person's e-mail address or name
	role := "arn:aws:sts::123456789012:assumed-role/caro-oncall/alice@example.org"
	user := "arn:aws:iam::123456789012:user/alice.jansen"
	// WHEN they become audit actors
	r, u := audit.AWSCallerActor(role), audit.AWSCallerActor(user)
	// THEN the account and role stay readable, the names are gone, and the pseudonym is stable and
	// tells two sessions apart
	if !strings.HasPrefix(r, "aws:123456789012:assumed-role/caro-oncall:") || strings.Contains(r, "alice") {
		t.Errorf("role actor %q", r)
	}
	if !strings.HasPrefix(u, "aws:123456789012:user:") || strings.Contains(u, "alice") {
		t.Errorf("user actor %q", u)
	}
	if audit.AWSCallerActor(role) != r || audit.AWSCallerActor("arn:aws:sts::123456789012:assumed-role/caro-oncall/bob") == r {
		t.Error("the pseudonym is not stable or does not tell sessions apart")
	}
	if a := audit.PseudonymousActor("os-user", "alice"); strings.Contains(a, "alice") || !strings.HasPrefix(a, "os-user:") {
		t.Errorf("os user actor %q", a)
	}
	if err := (audit.Origin{Actor: r, Interface: audit.InterfaceCLI, RequestID: audit.NewEventID()}).Validate(); err != nil {
		t.Error(err)
	}
}
