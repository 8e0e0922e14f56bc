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
//  1. The dns step first checks what the name answers. When the primary is really down its health
//     check fails (3 checks at 10 s) and Route 53 already answers the standby: nothing is called.
//  2. If it still answers the old region after DataPlaneWait (the region is impaired but /health
//     passes, or this is a drill), traffic must be forced:
//     - DNSModeARC (used when the stacks export RoutingControlArn and CARO_ARC_ENDPOINTS is set):
//     Route 53 ARC routing controls flipped with UpdateRoutingControlStates on the cluster's regional
//     endpoints, tried in turn. This is the only truly data-plane switch.
//     - DNSModeHealthCheck (the default today, because the CDK has no ARC cluster): UpdateHealthCheck
//     with Inverted=true on the primary's health check. Its effect is delivered by the data plane,
//     but the API call itself is a control-plane call served from us-east-1, and the step says so.
//     - DNSModeUpsert: ChangeResourceRecordSets UPSERT of the PRIMARY record towards the target, then
//     GetChange until INSYNC. Control plane only; the last resort.
//
// Failback is the same step in the other direction: the target (old primary) health check is set
// back to normal, and the standby's is never left inverted.
package aws
