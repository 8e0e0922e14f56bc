// Package trafficwatch is the platform's automated traffic watcher: it analyses the internal
// application communication (every internal SNS topic, the dead-letter queues, the API Gateway
// access logs and the API handler's security signals), recognises failures and attempted security
// breaches by the rules in one table (Rules), and publishes alerts to the on-call SNS topic with
// enough context to act and no personal data.
//
// # Inputs
//
// One Lambda receives three kinds of events (HandleEvent tells them apart):
//
//   - SNS notifications from every internal topic (the audit topic, the alarm topic, Lambda
//     on-failure destinations). Audit events that do not parse or validate, CloudWatch alarms
//     entering ALARM and Lambda "RetriesExhausted" records are failures. Messages on the alert
//     topic itself are ignored, so the watcher can never alert about its own alerts.
//   - SQS messages from dead-letter queues: every message is a failure. Only the queue name,
//     message ID and receive count are read; bodies are never read or forwarded.
//   - CloudWatch Logs subscription batches (gzip + base64 in awslogs.data) of two log groups: the
//     API stage's JSON access log (format AccessLogFormat, fields AccessRecord) and the API
//     function's log, filtered to security signal lines (Signal, filter pattern SignalFilterPattern).
//
// # Counting
//
// Rules with a threshold count events per key (address, principal, queue, ...) in a sliding window
// through the Counter interface. MemoryCounter keeps the windows in the memory of one warm Lambda
// instance: a burst spread over several concurrent instances is counted per instance, and a cold
// start forgets its windows. Give the function a reserved concurrency of 1 (CloudWatch Logs and SNS
// invoke it asynchronously, so events queue rather than fail) to make the in-memory count exact, or
// implement Counter over a shared store (DynamoDB conditional updates) for more. Counting is
// idempotent per event ID, so a retried batch never inflates a count.
//
// # No personal data in alerts
//
// Alerts name the rule, counts, window, first and last time, up to MaxRequestIDs request IDs (the
// way back to the full, access-controlled logs), the resource path template, the tenant ID and the
// region. Addresses and principals are replaced by keyed pseudonyms (Pseudonymizer: HMAC-SHA256,
// truncated): they group and compare like the originals, but cannot be turned back into an IP
// address or a user without the key and the logs. Truncating addresses (/24) was rejected: a
// truncated address is still personal data and groups unrelated callers. User agents, query
// strings, bodies and matched payloads never leave; an injection alert names the pattern class.
package trafficwatch
