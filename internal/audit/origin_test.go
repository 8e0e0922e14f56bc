package audit

import (
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/tenancy"
)

func TestOriginEventIsValidAndPlatformTenantIsNoTenant(t *testing.T) {
	o := Origin{Actor: "os-user:alice", Interface: InterfaceCLI, RequestID: NewEventID()}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	ev := o.Event(time.Now(), PlatformTenant, "backup:restore", "database", "20261123T020000Z-1a2b3c4d")
	ev.AfterHash = strings.Repeat("ab", 32)
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	if ev.Actor != o.Actor || ev.Interface != InterfaceCLI || ev.RequestID != o.RequestID || ev.ID == "" {
		t.Fatalf("event %+v", ev)
	}
	// The platform tenant can never be a real tenant's ID, so no tenant store can reach it.
	if tenancy.ValidTenantID(PlatformTenant) {
		t.Fatal("PlatformTenant is a valid tenant ID")
	}
	for _, bad := range []Origin{{Interface: InterfaceCLI, RequestID: "r"}, {Actor: "a", Interface: InterfaceCLI}, {Actor: "a", RequestID: "r", Interface: "web"}} {
		if bad.Validate() == nil {
			t.Fatalf("origin %+v accepted", bad)
		}
	}
}

func TestActorIDIsALedgerIdentifier(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:sts::111122223333:assumed-role/oncall/alice@example.com": "arn:aws:sts::111122223333:assumed-role/oncall/alice-example.com",
		"os-user:jan de vries":   "os-user:jan-de-vries",
		"_x":                     "x",
		"":                       "unknown-operator",
		strings.Repeat("a", 200): strings.Repeat("a", 128),
	} {
		if got := ActorID(in); got != want {
			t.Errorf("ActorID(%q) = %q, want %q", in, got, want)
		}
	}
}
