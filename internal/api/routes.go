package api

import (
	"net/http"
	"sort"
	"strings"

	"github.com/carohealth/platform/internal/access"
)

// route is one API operation: method, path pattern ("{id}" matches one segment), the action the
// principal needs, whether it takes a JSON body and which query parameters it accepts.
type route struct {
	Method  string
	Pattern string
	Action  access.Action
	Body    bool
	Query   []string
	// Writes is true for a route that changes stored data: every POST, PUT and DELETE, and the
	// export, whose audit event is written into the patient's outbox before the data leaves. While
	// the maintenance switch is on, these answer 503.
	Writes bool
	op     func(h *Handler, rc *reqCtx) (int, any, error)
}

// routes is the whole API surface. Every route names its action; the handler checks it before it
// touches any data. Paths are without the /api prefix that CloudFront and the local runner strip.
var routes = []route{
	{Method: http.MethodGet, Pattern: "/patients", Action: access.PatientRead, Query: []string{"limit", "cursor"}, op: (*Handler).listPatients},
	{Method: http.MethodPost, Pattern: "/patients", Action: access.PatientWrite, Body: true, Writes: true, op: (*Handler).createPatient},
	{Method: http.MethodGet, Pattern: "/patients/{id}", Action: access.PatientRead, op: (*Handler).getPatient},
	{Method: http.MethodPut, Pattern: "/patients/{id}", Action: access.PatientWrite, Body: true, Writes: true, op: (*Handler).updatePatient},
	{Method: http.MethodDelete, Pattern: "/patients/{id}", Action: access.PatientDelete, Writes: true, op: (*Handler).deletePatient},
	{Method: http.MethodGet, Pattern: "/patients/{id}/notes", Action: access.NoteRead, Query: []string{"limit", "cursor"}, op: (*Handler).listNotes},
	{Method: http.MethodPost, Pattern: "/patients/{id}/notes", Action: access.NoteCreate, Body: true, Writes: true, op: (*Handler).createNote},
	{Method: http.MethodGet, Pattern: "/notes/{id}", Action: access.NoteRead, op: (*Handler).getNote},
	{Method: http.MethodPut, Pattern: "/notes/{id}", Action: access.NoteWrite, Body: true, Writes: true, op: (*Handler).updateNote},
	{Method: http.MethodDelete, Pattern: "/notes/{id}", Action: access.NoteDelete, Writes: true, op: (*Handler).deleteNote},
	{Method: http.MethodGet, Pattern: "/subjects/{id}/export", Action: access.SubjectExport, Writes: true, op: (*Handler).exportSubject},
	{Method: http.MethodDelete, Pattern: "/subjects/{id}", Action: access.SubjectErase, Writes: true, op: (*Handler).eraseSubject},
}

// Route describes one route for documentation and for the CDK wiring (method, pattern, action).
type Route struct {
	Method  string
	Pattern string
	Action  access.Action
}

// Routes lists the API's routes.
func Routes() []Route {
	out := make([]Route, len(routes))
	for i, r := range routes {
		out[i] = Route{Method: r.Method, Pattern: r.Pattern, Action: r.Action}
	}
	return out
}

// match finds the route for method and path. found reports whether the path exists at all (for 405
// versus 404); allowed lists the path's methods.
func match(method, path string) (r *route, id string, found bool, allowed []string) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i := range routes {
		cand := &routes[i]
		pid, ok := matchPattern(cand.Pattern, segs)
		if !ok {
			continue
		}
		found = true
		allowed = append(allowed, cand.Method)
		if cand.Method == method {
			r, id = cand, pid
		}
	}
	sort.Strings(allowed)
	return r, id, found, allowed
}

func matchPattern(pattern string, segs []string) (string, bool) {
	ps := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	if len(ps) != len(segs) {
		return "", false
	}
	id := ""
	for i, p := range ps {
		if p == "{id}" {
			if segs[i] == "" {
				return "", false
			}
			id = segs[i]
			continue
		}
		if p != segs[i] {
			return "", false
		}
	}
	return id, true
}
