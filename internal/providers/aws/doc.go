// Package aws implements the failover steps on AWS with aws-sdk-go-v2: the platform stack through
// CloudFormation change sets (skipped when the deployed template already matches the synthesized
// one), users through the Cognito admin APIs, the KMS and credential preflight, and the journal and
// lock as objects in S3 in the target region (conditional writes). Tests run every call against
// httptest fakes that check the documented request shapes, and against local-kms and gofakes3.
//
// # DNS: what is data plane and what is not
//
// The platform publishes the API origin name as a Route 53 failover pair (constructs/dns): PRIMARY
// in the primary region, SECONDARY in the standby, each guarded by a Route 53 health check of that
// region's /api/health. Evaluating health checks and answering queries is Route 53's data plane,
// which stays up when us-east-1 (home of the Route 53 control plane) does not. So:
//
//  1. When the primary is really down its health check fails (3 checks at 10 s) and Route 53 already
//     answers the standby by itself: no API call is needed to move traffic.
//  2. Traffic must still be pinned to the standby: otherwise, when the old primary comes back and its
//     /health passes (with stale data), Route 53 would send users back to it. And when the primary
//     is impaired but /health still passes (or in a drill), the pin is what moves traffic. The pin:
//     - DNSModeARC (used when the stacks export RoutingControlArn and CARO_ARC_ENDPOINTS is set):
//     Route 53 ARC routing controls flipped with UpdateRoutingControlStates on the cluster's regional
//     endpoints, tried in turn. This is the only truly data-plane switch.
//     - DNSModeHealthCheck (the default today, because the CDK has no ARC cluster): UpdateHealthCheck
//     with Inverted=true on the primary's health check. Its effect is delivered by the data plane,
//     but the API call itself is a control-plane call served from us-east-1, and the step says so.
//     When the source stack is unreadable, the health check ID is read from its failover record.
//     - DNSModeUpsert: ChangeResourceRecordSets UPSERT of the PRIMARY record towards the target, then
//     GetChange until INSYNC. Control plane only; the last resort.
//  3. If the pin fails (control plane impaired) but the data plane already answers the target, the
//     step completes with a loud warning and the exact command to pin later; if the name does not
//     answer the target either, the step fails and apply can be re-run.
//
// Failback is the same step in the other direction: the target (old primary) health check is set
// back to normal, and the standby's is never left inverted.
package aws
