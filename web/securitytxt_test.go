package web

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseSecurityTxt reads RFC 9116 fields (name -> values, in order), skipping comments and blanks.
func parseSecurityTxt(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	fields := map[string][]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("%s:%d: %q is not a \"Field: value\" line", path, n, line)
		}
		key := strings.ToLower(strings.TrimSpace(name))
		fields[key] = append(fields[key], strings.TrimSpace(value))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return fields
}

func TestSecurityTxtFollowsRFC9116(t *testing.T) {
	// GIVEN the security.txt the app and API names serve
	fields := parseSecurityTxt(t, filepath.Join(".well-known", "security.txt"))

	// THEN it names the disclosure address, the policy, the languages and where it lives
	if got := fields["contact"]; len(got) == 0 || got[0] != "mailto:security@caro.health" {
		t.Errorf("Contact = %q, want first contact mailto:security@caro.health", got)
	}
	if got := fields["preferred-languages"]; len(got) != 1 || got[0] != "en, nl" {
		t.Errorf("Preferred-Languages = %q, want exactly one \"en, nl\"", got)
	}
	if len(fields["policy"]) == 0 || !strings.HasPrefix(fields["policy"][0], "https://") {
		t.Errorf("Policy = %q, want an https URL", fields["policy"])
	}
	if len(fields["canonical"]) == 0 {
		t.Error("Canonical missing")
	}
	for _, c := range fields["canonical"] {
		if !strings.HasPrefix(c, "https://") || !strings.HasSuffix(c, "/.well-known/security.txt") {
			t.Errorf("Canonical %q must be an https URL of /.well-known/security.txt", c)
		}
	}
}

func TestSecurityTxtExpiresIsNotDue(t *testing.T) {
	// GIVEN the Expires field (RFC 9116 §2.5.5: exactly once, RFC 3339, recommended < 1 year ahead)
	fields := parseSecurityTxt(t, filepath.Join(".well-known", "security.txt"))
	if len(fields["expires"]) != 1 {
		t.Fatalf("Expires must appear exactly once, found %d", len(fields["expires"]))
	}
	expires, err := time.Parse(time.RFC3339, fields["expires"][0])
	if err != nil {
		t.Fatalf("Expires %q is not RFC 3339: %v", fields["expires"][0], err)
	}

	// WHEN compared with today
	left := time.Until(expires)

	// THEN it is at least 30 days away (time to renew) and at most a year away
	if left < 30*24*time.Hour {
		t.Errorf("web/.well-known/security.txt expires %s (in %s): set Expires to a date 6-12 months ahead",
			expires.Format(time.RFC3339), left.Round(time.Hour))
	}
	if left > 366*24*time.Hour {
		t.Errorf("Expires %s is more than a year ahead; RFC 9116 recommends less than a year", expires.Format(time.RFC3339))
	}
}
