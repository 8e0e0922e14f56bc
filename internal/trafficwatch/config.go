package trafficwatch

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// Environment variables the watcher Lambda reads (contracts.md names the CARO_* ones).
const (
	EnvRegion        = "CARO_REGION"
	EnvAlertTopicARN = "CARO_ALERT_TOPIC_ARN"
	EnvAuditTopicARN = "CARO_AUDIT_TOPIC_ARN"
	// EnvPseudonymKey optionally holds the pseudonym key as hex (at least 64 characters), so
	// pseudonyms stay comparable across instances and cold starts. Empty: a random key per instance.
	EnvPseudonymKey = "CARO_TRAFFICWATCH_PSEUDONYM_KEY"
)

// Config is the watcher Lambda's configuration.
type Config struct {
	Region        string
	AlertTopicARN string
	AuditTopicARN string
	PseudonymKey  []byte
}

// LoadConfig reads the configuration from getenv (os.Getenv) and says what is missing.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Region:        strings.TrimSpace(getenv(EnvRegion)),
		AlertTopicARN: strings.TrimSpace(getenv(EnvAlertTopicARN)),
		AuditTopicARN: strings.TrimSpace(getenv(EnvAuditTopicARN)),
	}
	var problems []string
	if c.Region == "" {
		problems = append(problems, EnvRegion+" is empty: set it to the region the function runs in")
	}
	if !strings.HasPrefix(c.AlertTopicARN, "arn:aws:sns:") {
		problems = append(problems, EnvAlertTopicARN+" is not an SNS topic ARN: set it to the on-call topic")
	}
	if c.AuditTopicARN != "" && !strings.HasPrefix(c.AuditTopicARN, "arn:aws:sns:") {
		problems = append(problems, EnvAuditTopicARN+" is not an SNS topic ARN")
	}
	if k := strings.TrimSpace(getenv(EnvPseudonymKey)); k != "" {
		key, err := hex.DecodeString(k)
		if err != nil || len(key) < 32 {
			problems = append(problems, EnvPseudonymKey+" must be at least 64 hex characters")
		} else {
			c.PseudonymKey = key
		}
	}
	if len(problems) > 0 {
		return Config{}, fmt.Errorf("traffic watcher configuration: %s", strings.Join(problems, "; "))
	}
	return c, nil
}

// New builds the watcher with the rules table and an in-memory counter (see the package comment on
// what that means for concurrency).
func New(c Config, pub Publisher, log io.Writer) (*Watcher, error) {
	ps, err := NewPseudonymizer(c.PseudonymKey)
	if err != nil {
		return nil, err
	}
	return &Watcher{Rules: Rules, Counter: NewMemoryCounter(), Publisher: pub, Pseudonyms: ps, Region: c.Region,
		AlertTopicARN: c.AlertTopicARN, AuditTopicARN: c.AuditTopicARN, Log: log}, nil
}
