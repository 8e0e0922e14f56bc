package aws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// DNS modes, in order of preference. See DNSMover.
const (
	// DNSModeARC flips Route 53 ARC routing controls through the cluster's regional endpoints: a
	// data-plane call, available while us-east-1 (the Route 53 control plane) is impaired. The
	// routing controls drive RECOVERY_CONTROL health checks attached to the failover records, so DNS
	// answers change without any record change.
	DNSModeARC = "arc"
	// DNSModeHealthCheck inverts the source's Route 53 health check (UpdateHealthCheck). Route 53's
	// health checkers and resolvers (data plane) then answer the failover SECONDARY, but the call
	// itself is a control-plane call served from us-east-1.
	DNSModeHealthCheck = "health-check"
	// DNSModeUpsert rewrites the failover record with ChangeResourceRecordSets UPSERT and waits for
	// GetChange INSYNC: the fallback, entirely dependent on the us-east-1 control plane.
	DNSModeUpsert = "upsert"
)

// ControlPlaneWarning is printed whenever a DNS mode depends on the Route 53 control plane.
const ControlPlaneWarning = "this DNS change uses the Route 53 control plane, which is served from us-east-1: if us-east-1 is impaired it fails; prefer the ARC routing controls (data plane)"

// ClusterEndpoint is one of the five regional endpoints of a Route 53 ARC cluster.
type ClusterEndpoint struct {
	URL    string `json:"url"`
	Region string `json:"region"`
}

// RoutingControls calls the Route 53 ARC cluster data-plane API (route53-recovery-cluster, JSON 1.0,
// target prefix ToggleCustomerAPI). It tries the cluster endpoints in turn, as AWS recommends, until
// one answers. It is hand-rolled because the SDK module for it needs a newer aws-sdk-go-v2 core than
// this module pins; requests are signed with the core's SigV4 signer.
type RoutingControls struct {
	Endpoints   []ClusterEndpoint
	Credentials aws.CredentialsProvider
	HTTP        *http.Client
}

// RoutingControlOn and Off are the routing control states.
const (
	RoutingControlOn  = "On"
	RoutingControlOff = "Off"
)

// arcError is an error answered by the cluster (4xx): trying another endpoint would not help.
type arcError struct {
	Status int
	Type   string `json:"__type"`
	Msg    string `json:"message"`
}

func (e *arcError) Error() string {
	return fmt.Sprintf("route53-recovery-cluster: %d %s: %s", e.Status, e.Type, e.Msg)
}

func (rc *RoutingControls) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	if len(rc.Endpoints) == 0 {
		return errors.New("no ARC cluster endpoints configured: add them to the region settings (aws route53-recovery-control-config describe-cluster)")
	}
	client := rc.HTTP
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	var errs []error
	for _, ep := range rc.Endpoints {
		err := rc.callOne(ctx, client, ep, op, body, out)
		if err == nil {
			return nil
		}
		var ae *arcError
		if errors.As(err, &ae) && ae.Status < 500 && ae.Status != 429 {
			return err
		}
		errs = append(errs, fmt.Errorf("%s: %w", ep.Region, err))
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("every ARC cluster endpoint failed: %w", errors.Join(errs...))
}

func (rc *RoutingControls) callOne(ctx context.Context, client *http.Client, ep ClusterEndpoint, op string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "ToggleCustomerAPI."+op)
	creds, err := rc.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "route53-recovery-cluster", ep.Region, time.Now()); err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		ae := &arcError{Status: resp.StatusCode}
		_ = json.Unmarshal(b, ae)
		return ae
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// State returns a routing control's state.
func (rc *RoutingControls) State(ctx context.Context, arn string) (string, error) {
	var out struct {
		RoutingControlArn   string
		RoutingControlState string
	}
	if err := rc.call(ctx, "GetRoutingControlState", map[string]string{"RoutingControlArn": arn}, &out); err != nil {
		return "", err
	}
	return out.RoutingControlState, nil
}

// Set changes several routing controls in one atomic UpdateRoutingControlStates call, so there is
// never a moment with both regions off (or on).
func (rc *RoutingControls) Set(ctx context.Context, states map[string]string) error {
	type entry struct {
		RoutingControlArn   string
		RoutingControlState string
	}
	var in struct {
		UpdateRoutingControlStateEntries []entry
	}
	for arn, st := range states {
		in.UpdateRoutingControlStateEntries = append(in.UpdateRoutingControlStateEntries, entry{arn, st})
	}
	return rc.call(ctx, "UpdateRoutingControlStates", in, nil)
}

// Route53API is the part of the Route 53 client the DNS step uses.
type Route53API interface {
	ChangeResourceRecordSets(context.Context, *route53.ChangeResourceRecordSetsInput, ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error)
	GetChange(context.Context, *route53.GetChangeInput, ...func(*route53.Options)) (*route53.GetChangeOutput, error)
	ListResourceRecordSets(context.Context, *route53.ListResourceRecordSetsInput, ...func(*route53.Options)) (*route53.ListResourceRecordSetsOutput, error)
	GetHealthCheck(context.Context, *route53.GetHealthCheckInput, ...func(*route53.Options)) (*route53.GetHealthCheckOutput, error)
	UpdateHealthCheck(context.Context, *route53.UpdateHealthCheckInput, ...func(*route53.Options)) (*route53.UpdateHealthCheckOutput, error)
	// GetHealthCheckStatus is the readiness check of what Route 53's checkers see.
	GetHealthCheckStatus(context.Context, *route53.GetHealthCheckStatusInput, ...func(*route53.Options)) (*route53.GetHealthCheckStatusOutput, error)
}

// DNSMover moves the failover record's answer from the source region to the target.
type DNSMover struct {
	Mode string
	// ARC: the routing controls of the two regions.
	ARC                          *RoutingControls
	SourceControl, TargetControl string
	// Health-check mode: the health checks of the failover records.
	Route53           Route53API
	SourceHealthCheck string
	TargetHealthCheck string
	// SourceIsPrimary: the source holds the PRIMARY failover record (a failover), so its health
	// check is inverted to force the answer to the SECONDARY. On failback the source is the
	// SECONDARY and its check is set back to normal.
	SourceIsPrimary bool
	// Upsert mode: the record to write (the PRIMARY failover record pointing at the target).
	HostedZoneID string
	Record       *r53types.ResourceRecordSet
	// PollInterval paces GetChange (default 5 s).
	PollInterval time.Duration

	summary string
}

// Done reports whether DNS already routes to the target by this mode's own state.
func (m *DNSMover) Done(ctx context.Context) (bool, error) {
	switch m.Mode {
	case DNSModeARC:
		t, err := m.ARC.State(ctx, m.TargetControl)
		if err != nil {
			return false, err
		}
		s, err := m.ARC.State(ctx, m.SourceControl)
		if err != nil {
			return false, err
		}
		return t == RoutingControlOn && s == RoutingControlOff, nil
	case DNSModeHealthCheck:
		s, err := m.Route53.GetHealthCheck(ctx, &route53.GetHealthCheckInput{HealthCheckId: aws.String(m.SourceHealthCheck)})
		if err != nil {
			return false, fmt.Errorf("get health check %s: %w", m.SourceHealthCheck, err)
		}
		t, err := m.Route53.GetHealthCheck(ctx, &route53.GetHealthCheckInput{HealthCheckId: aws.String(m.TargetHealthCheck)})
		if err != nil {
			return false, fmt.Errorf("get health check %s: %w", m.TargetHealthCheck, err)
		}
		return aws.ToBool(s.HealthCheck.HealthCheckConfig.Inverted) == m.SourceIsPrimary && !aws.ToBool(t.HealthCheck.HealthCheckConfig.Inverted), nil
	case DNSModeUpsert:
		out, err := m.Route53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
			HostedZoneId: aws.String(m.HostedZoneID), StartRecordName: m.Record.Name, StartRecordType: m.Record.Type,
			StartRecordIdentifier: m.Record.SetIdentifier, MaxItems: aws.Int32(1),
		})
		if err != nil {
			return false, fmt.Errorf("list records of %s: %w", m.HostedZoneID, err)
		}
		return len(out.ResourceRecordSets) == 1 && sameRecord(out.ResourceRecordSets[0], *m.Record), nil
	}
	return false, fmt.Errorf("unknown DNS mode %q: use %s, %s or %s", m.Mode, DNSModeARC, DNSModeHealthCheck, DNSModeUpsert)
}

func sameRecord(a, b r53types.ResourceRecordSet) bool {
	key := func(r r53types.ResourceRecordSet) string {
		s := fmt.Sprintf("%s|%s|%s|%s|%s", aws.ToString(r.Name), r.Type, aws.ToString(r.SetIdentifier), r.Failover, aws.ToString(r.HealthCheckId))
		if r.AliasTarget != nil {
			s += "|" + aws.ToString(r.AliasTarget.DNSName) + "|" + aws.ToString(r.AliasTarget.HostedZoneId)
		}
		for _, v := range r.ResourceRecords {
			s += "|" + aws.ToString(v.Value)
		}
		return s
	}
	return key(a) == key(b)
}

// Move routes DNS to the target.
func (m *DNSMover) Move(ctx context.Context, progress func(string, ...any)) error {
	switch m.Mode {
	case DNSModeARC:
		if err := m.ARC.Set(ctx, map[string]string{m.TargetControl: RoutingControlOn, m.SourceControl: RoutingControlOff}); err != nil {
			return fmt.Errorf("ARC routing controls (data plane): %w: if every cluster endpoint fails, plan again with --dns upsert (control plane, us-east-1)", err)
		}
		m.summary = fmt.Sprintf("ARC routing controls: target %s On, source %s Off (data plane)", m.TargetControl, m.SourceControl)
		return nil
	case DNSModeHealthCheck:
		progress("%s", ControlPlaneWarning)
		if _, err := m.Route53.UpdateHealthCheck(ctx, &route53.UpdateHealthCheckInput{HealthCheckId: aws.String(m.TargetHealthCheck), Inverted: aws.Bool(false)}); err != nil {
			return fmt.Errorf("un-invert target health check %s: %w", m.TargetHealthCheck, err)
		}
		if _, err := m.Route53.UpdateHealthCheck(ctx, &route53.UpdateHealthCheckInput{HealthCheckId: aws.String(m.SourceHealthCheck), Inverted: aws.Bool(m.SourceIsPrimary)}); err != nil {
			return fmt.Errorf("set source health check %s inverted=%t: %w", m.SourceHealthCheck, m.SourceIsPrimary, err)
		}
		if m.SourceIsPrimary {
			m.summary = fmt.Sprintf("source health check %s inverted (reports unhealthy), target %s normal; Route 53 answers the target once its checkers agree (~30-90 s). Control-plane call; un-invert on failback", m.SourceHealthCheck, m.TargetHealthCheck)
		} else {
			m.summary = fmt.Sprintf("health checks %s and %s back to normal: Route 53 answers the PRIMARY again (control-plane call)", m.TargetHealthCheck, m.SourceHealthCheck)
		}
		return nil
	case DNSModeUpsert:
		progress("%s", ControlPlaneWarning)
		out, err := m.Route53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
			HostedZoneId: aws.String(m.HostedZoneID),
			ChangeBatch: &r53types.ChangeBatch{
				Comment: aws.String("caro failover: route " + aws.ToString(m.Record.Name) + " to the target region"),
				Changes: []r53types.Change{{Action: r53types.ChangeActionUpsert, ResourceRecordSet: m.Record}},
			},
		})
		if err != nil {
			return fmt.Errorf("UPSERT %s (control plane, us-east-1): %w", aws.ToString(m.Record.Name), err)
		}
		id := aws.ToString(out.ChangeInfo.Id)
		progress("change %s submitted (%s), waiting for INSYNC", id, out.ChangeInfo.Status)
		poll := m.PollInterval
		if poll <= 0 {
			poll = 5 * time.Second
		}
		w := route53.NewResourceRecordSetsChangedWaiter(m.Route53, func(o *route53.ResourceRecordSetsChangedWaiterOptions) {
			o.MinDelay, o.MaxDelay = poll, max(poll, waiterMaxDelay)
		})
		if err := w.Wait(ctx, &route53.GetChangeInput{Id: aws.String(id)}, 10*time.Minute); err != nil {
			return fmt.Errorf("change %s not INSYNC: %w: run apply again to keep waiting", id, err)
		}
		m.summary = fmt.Sprintf("record %s UPSERT to the target, change %s INSYNC (control plane)", aws.ToString(m.Record.Name), id)
		return nil
	}
	return fmt.Errorf("unknown DNS mode %q", m.Mode)
}

// Summary says what Move did.
func (m *DNSMover) Summary() string { return m.summary }

type r53RecordSet = r53types.ResourceRecordSet

// newPrimaryRecord is the PRIMARY failover record of name (set identifier primaryRegion) pointed at
// target, guarded by healthCheckID: what the UPSERT fallback writes. CloudFormation then reports
// drift on the primary's record until the next deploy of that stack restores it.
func newPrimaryRecord(name, target, primaryRegion, healthCheckID string) *r53RecordSet {
	r := &r53types.ResourceRecordSet{
		Name: aws.String(name), Type: r53types.RRTypeCname, TTL: aws.Int64(60),
		SetIdentifier: aws.String(primaryRegion), Failover: r53types.ResourceRecordSetFailoverPrimary,
		ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(target)}},
	}
	if healthCheckID != "" {
		r.HealthCheckId = aws.String(healthCheckID)
	}
	return r
}
