package api

import (
	"fmt"
	"net/http"
)

// Error codes of ErrorResponse.Error.
const (
	CodeBadRequest       = "bad_request"
	CodeInvalidJSON      = "invalid_json"
	CodeUnknownField     = "unknown_field"
	CodeForbiddenKey     = "forbidden_key"
	CodeInvalidID        = "invalid_id"
	CodeInvalidQuery     = "invalid_query"
	CodeValidation       = "validation_failed"
	CodeUnauthenticated  = "unauthenticated"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeConflict         = "conflict"
	CodeHasNotes         = "patient_has_notes"
	CodeTooLarge         = "body_too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeInternal         = "internal_error"
	// CodeErasureUnavailable: the erasure could not be recorded in the erasure register (or no
	// register is configured), so nothing was erased; retry later.
	CodeErasureUnavailable = "erasure_register_unavailable"
	// CodeMaintenance: the maintenance switch is on (a restore or an offboarding is replacing
	// data); writes are refused with Retry-After, reads work.
	CodeMaintenance = "maintenance"
	// CodeMaintenanceUnknown: the maintenance switch could not be read, so writes are refused
	// (fail closed) with Retry-After; reads work.
	CodeMaintenanceUnknown = "maintenance_state_unknown"

	// Internal codes, answered as CodeForbidden; they only choose the security signal.
	codeOriginMissing = "origin_verify_missing"
	codeOriginUnknown = "origin_verify_unknown"
)

// apiError is an error meant for the client: status, code and a message that is safe to show.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

var (
	errRegisterNotConfigured = errorf(http.StatusServiceUnavailable, CodeErasureUnavailable,
		"erasure register not configured: erasures are refused until the service records them outside the database; nothing was erased, contact the operators")
	errRegisterUnavailable = errorf(http.StatusServiceUnavailable, CodeErasureUnavailable,
		"the erasure could not be recorded in the erasure register, so nothing was erased; retry later and quote the request ID if it persists")
	errMaintenance = errorf(http.StatusServiceUnavailable, CodeMaintenance,
		"the platform is under maintenance (its data is being restored or moved), so changes are refused for now and nothing was changed; reading works; retry after the time in Retry-After")
	errMaintenanceUnknown = errorf(http.StatusServiceUnavailable, CodeMaintenanceUnknown,
		"the platform could not check whether it is under maintenance, so changes are refused for now and nothing was changed; reading works; retry after the time in Retry-After")
	errNotFound = errorf(http.StatusNotFound, CodeNotFound, "no such resource in your tenant; check the ID")
	errInternal = errorf(http.StatusInternalServerError, CodeInternal,
		"the request could not be completed because of a fault on our side; retry later and quote the request ID if it persists")
)
