// Package web is the static front end (sign in, list patients, open one, add a note) that the asset
// bucket serves through CloudFront and the local runner serves for every non-/api path. The Go files
// here only test the assets: the security.txt contract (RFC 9116) and the rules that keep the pages
// working under the strict Content-Security-Policy of internal/headers.
package web
