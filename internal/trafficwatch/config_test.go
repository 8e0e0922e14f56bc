package trafficwatch

import (
	"strings"
	"testing"
)

func TestLoadConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	good := map[string]string{EnvRegion: "eu-west-1", EnvAlertTopicARN: "arn:aws:sns:eu-west-1:1:oncall",
		EnvAuditTopicARN: "arn:aws:sns:eu-west-1:1:audit", EnvPseudonymKey: strings.Repeat("ab", 32)}
	c, err := LoadConfig(env(good))
	if err != nil || c.Region != "eu-west-1" || len(c.PseudonymKey) != 32 {
		t.Fatalf("config %+v err %v", c, err)
	}
	if _, err := New(c, &recordingPublisher{}, nil); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(map[string]string){
		"no region":      func(m map[string]string) { delete(m, EnvRegion) },
		"no alert topic": func(m map[string]string) { delete(m, EnvAlertTopicARN) },
		"bad audit":      func(m map[string]string) { m[EnvAuditTopicARN] = "audit" },
		"short key":      func(m map[string]string) { m[EnvPseudonymKey] = "abcd" },
	} {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		mut(m)
		if _, err := LoadConfig(env(m)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
