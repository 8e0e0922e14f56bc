package main

import (
	"math"

	"github.com/carohealth/platform/constructs/backupengine"
	"github.com/carohealth/platform/regions"
)

// reservedConcurrency is what each function of a region reserves of the account's Lambda
// concurrency in that region. Reserving keeps one function from starving another (and caps a
// runaway one); the sum must leave the 100 executions Lambda keeps unreserved, which `caro deploy
// check` compares with the account's quota before a deploy.
type reservedConcurrency struct {
	// api serves the API: twice the executions the stated load needs (Little's law: peak rate x
	// request duration), at least 2.
	api float64
	// health serves GET /health and /auth/config: Route 53's health checkers (a request every 10
	// s from each checker region, a few per second in all) and sign-ins.
	health float64
	// auditOutbox is the once-a-minute audit outbox reconciler, a function of its own so that it
	// never takes one of the API's executions; one run at a time.
	auditOutbox float64
	// trafficWatch keeps its windowed counts whole in one instance.
	trafficWatch float64
	// auditWriter: appends race on the chain head, so few writers.
	auditWriter float64
	// backup: the weekly restore test, one at a time.
	backup float64
	// retention: the daily retention job, one at a time.
	retention float64
	// backupEngine: the backup engine's workers (constructs/backupengine's Distributed Maps).
	backupEngine float64
	// atlasKeyAccess serves the deploy-time Atlas custom resources (regions with Atlas settings).
	atlasKeyAccess float64
	// peerShare serves the deploy-time share with the peer region (regions with a peer).
	peerShare float64
	// readiness: the standby's readiness check every 30 minutes (about a minute each), one at a
	// time (constructs/readiness).
	readiness float64
}

// regionFunctions says which of the optional functions a region runs.
type regionFunctions struct {
	// atlas: the region declares Atlas settings (the Atlas key access).
	atlas bool
	// peer: it has a peer region (the peer share).
	peer bool
	// standby: it is a standby with a peer to take over from (the readiness check).
	standby bool
}

// concurrencyFor sizes a region's functions from its stated API load and the optional functions
// it runs.
func concurrencyFor(load regions.APILoad, runs regionFunctions) reservedConcurrency {
	api := math.Max(2, math.Ceil(load.APIPeakRequestsPerSecond*load.APIRequestSeconds*2))
	c := reservedConcurrency{api: api, health: 2, auditOutbox: 1, trafficWatch: 1, auditWriter: 2, backup: 1, retention: 1, backupEngine: backupengine.DefaultMaxConcurrency}
	if runs.atlas {
		c.atlasKeyAccess = 1
	}
	if runs.peer {
		c.peerShare = 1
	}
	if runs.peer && runs.standby {
		c.readiness = 1
	}
	return c
}

// total is what the region's platform stack reserves in all.
func (c reservedConcurrency) total() float64 {
	return c.api + c.health + c.auditOutbox + c.trafficWatch + c.auditWriter + c.backup + c.retention + c.backupEngine + c.atlasKeyAccess + c.peerShare + c.readiness
}
