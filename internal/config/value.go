package config

import (
	"fmt"
	"strings"
)

// Value is one resolved setting.
type Value struct {
	Key string `json:"key"`
	// Value is "" when the setting was found nowhere.
	Value string `json:"-"`
	// Source is where the value came from, e.g. "secret caro/eu-central-1/mongodb-uri in eu-central-1".
	Source string `json:"source,omitempty"`
	Secret bool   `json:"secret,omitempty"`
	// Looked lists the places tried before the one that had it (or all, when none had it), each
	// with why it gave nothing.
	Looked []string `json:"looked,omitempty"`

	fix string
}

// Found reports whether the setting has a value.
func (v Value) Found() bool { return v.Value != "" }

// Display is the value as it may be printed: a secret shows only that it is set (a connection
// string keeps its host, so the operator can tell which cluster it reaches).
func (v Value) Display() string {
	switch {
	case !v.Found():
		return "(not set)"
	case !v.Secret:
		return v.Value
	case strings.HasPrefix(v.Value, "mongodb://") || strings.HasPrefix(v.Value, "mongodb+srv://"):
		return RedactURI(v.Value)
	default:
		return "****** (secret)" // not even its length
	}
}

// Err is nil when the setting has a value, else an error naming the setting, every place looked
// in and what to do.
func (v Value) Err() error {
	if v.Found() {
		return nil
	}
	msg := fmt.Sprintf("setting %s is not set: looked in %s", v.Key, strings.Join(v.Looked, "; "))
	if v.fix != "" {
		msg += ": " + v.fix
	}
	return &MissingError{Key: v.Key, msg: msg}
}

// MissingError is the error of a required setting that was found nowhere.
type MissingError struct {
	Key string
	msg string
}

func (e *MissingError) Error() string { return e.msg }

// RedactURI removes the credentials and options of a MongoDB connection string.
func RedactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return "<not a connection string>"
	}
	if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
		rest = "***@" + rest[at+1:]
	}
	if q := strings.Index(rest, "?"); q >= 0 {
		rest = rest[:q]
	}
	return scheme + "://" + rest
}
