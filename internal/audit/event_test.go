package audit

import (
	"strings"
	"testing"
	"time"
)

func validEvent() Event {
	return Event{
		ID: NewEventID(), Time: time.Now().UTC(), Actor: "sub-1", TenantID: "t1", Action: "patient:write",
		ResourceType: "patient", ResourceID: "p1", Interface: InterfaceAPI, RequestID: "r1", AfterHash: "ab",
	}
}

func TestEventValidate(t *testing.T) {
	if err := validEvent().Validate(); err != nil {
		t.Fatalf("valid event refused: %v", err)
	}
	e := validEvent()
	e.Actor, e.TenantID = "", ""
	err := e.Validate()
	if err == nil || !strings.Contains(err.Error(), "missing actor, tenantId") {
		t.Fatalf("want missing actor, tenantId; got %v", err)
	}
	e = validEvent()
	e.Interface = "email"
	if err := e.Validate(); err == nil {
		t.Fatal("unknown interface accepted")
	}
}

func TestNewEventIDIsRandom(t *testing.T) {
	a, b := NewEventID(), NewEventID()
	if a == b || len(a) != 32 {
		t.Fatalf("ids %q %q", a, b)
	}
}
