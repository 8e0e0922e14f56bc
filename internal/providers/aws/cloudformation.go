package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"
)

// CloudFormationAPI is the part of the CloudFormation client the deploy step uses.
type CloudFormationAPI interface {
	DescribeStacks(context.Context, *cfn.DescribeStacksInput, ...func(*cfn.Options)) (*cfn.DescribeStacksOutput, error)
	GetTemplate(context.Context, *cfn.GetTemplateInput, ...func(*cfn.Options)) (*cfn.GetTemplateOutput, error)
	CreateChangeSet(context.Context, *cfn.CreateChangeSetInput, ...func(*cfn.Options)) (*cfn.CreateChangeSetOutput, error)
	DescribeChangeSet(context.Context, *cfn.DescribeChangeSetInput, ...func(*cfn.Options)) (*cfn.DescribeChangeSetOutput, error)
	ExecuteChangeSet(context.Context, *cfn.ExecuteChangeSetInput, ...func(*cfn.Options)) (*cfn.ExecuteChangeSetOutput, error)
	DeleteChangeSet(context.Context, *cfn.DeleteChangeSetInput, ...func(*cfn.Options)) (*cfn.DeleteChangeSetOutput, error)
	DescribeStackEvents(context.Context, *cfn.DescribeStackEventsInput, ...func(*cfn.Options)) (*cfn.DescribeStackEventsOutput, error)
}

// StackDeployer deploys the CaroPlatform-<region> stack from the synthesized cloud assembly through a
// change set. The CDK assets (Lambda bundles) must already be published to the target region's
// bootstrap bucket: CI publishes them to every region on each release, which is what makes a
// CloudFormation-only deploy possible while the source region is down.
type StackDeployer struct {
	Client    CloudFormationAPI
	StackName string
	// TemplateBody is the synthesized template (cdk.out/<stack>.template.json).
	TemplateBody string
	// TemplateURL is used instead of the body when set (templates over 51,200 bytes must be in S3).
	TemplateURL string
	// ChangeSetName is fixed per plan (e.g. caro-failover-<plan id>) so a resumed deploy finds the
	// change set its interrupted run created instead of making a second one.
	ChangeSetName string
	// PollInterval paces the waiters and the stack-event progress (default 10 s).
	PollInterval time.Duration
	// MaxWait bounds the whole deploy (default 45 min).
	MaxWait time.Duration

	summary string
}

// Stack states in which the stack is settled and serving.
var settled = map[cfntypes.StackStatus]bool{
	cfntypes.StackStatusCreateComplete:         true,
	cfntypes.StackStatusUpdateComplete:         true,
	cfntypes.StackStatusImportComplete:         true,
	cfntypes.StackStatusUpdateRollbackComplete: true,
}

// waiterMaxDelay caps the SDK waiters' back-off between two polls (of CloudFormation and Route 53):
// polling less often than this would only delay the next step.
const waiterMaxDelay = 30 * time.Second

func (d *StackDeployer) poll() time.Duration {
	if d.PollInterval > 0 {
		return d.PollInterval
	}
	return 10 * time.Second
}

func (d *StackDeployer) maxWait() time.Duration {
	if d.MaxWait > 0 {
		return d.MaxWait
	}
	return 45 * time.Minute
}

// stack returns the stack, or nil if it does not exist.
func (d *StackDeployer) stack(ctx context.Context) (*cfntypes.Stack, error) {
	out, err := d.Client.DescribeStacks(ctx, &cfn.DescribeStacksInput{StackName: aws.String(d.StackName)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" && strings.Contains(ae.ErrorMessage(), "does not exist") {
			return nil, nil
		}
		return nil, fmt.Errorf("describe stack %s: %w", d.StackName, err)
	}
	if len(out.Stacks) == 0 {
		return nil, nil
	}
	return &out.Stacks[0], nil
}

// Matches reports whether the deployed stack is settled and its template equals the synthesized one,
// in which case the deploy is skipped.
func (d *StackDeployer) Matches(ctx context.Context) (bool, error) {
	st, err := d.stack(ctx)
	if err != nil || st == nil {
		return false, err
	}
	if !settled[st.StackStatus] || st.StackStatus == cfntypes.StackStatusUpdateRollbackComplete {
		return false, nil
	}
	if d.TemplateBody == "" {
		return false, nil
	}
	out, err := d.Client.GetTemplate(ctx, &cfn.GetTemplateInput{StackName: aws.String(d.StackName), TemplateStage: cfntypes.TemplateStageOriginal})
	if err != nil {
		return false, fmt.Errorf("get template of %s: %w", d.StackName, err)
	}
	same, err := sameJSON(aws.ToString(out.TemplateBody), d.TemplateBody)
	if err != nil {
		return false, nil // not JSON (YAML deployed by hand): deploy ours
	}
	if same {
		d.summary = fmt.Sprintf("stack %s already deployed with this template (%s)", d.StackName, st.StackStatus)
	}
	return same, nil
}

func sameJSON(a, b string) (bool, error) {
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		return false, err
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		return false, err
	}
	return reflect.DeepEqual(x, y), nil
}

// Deploy creates (or finds, when resuming) the change set, executes it and waits for the stack,
// reporting new stack events as progress.
func (d *StackDeployer) Deploy(ctx context.Context, progress func(string, ...any)) error {
	ctx, cancel := context.WithTimeout(ctx, d.maxWait())
	defer cancel()
	st, err := d.stack(ctx)
	if err != nil {
		return err
	}
	if st != nil && strings.HasSuffix(string(st.StackStatus), "_IN_PROGRESS") {
		// An interrupted apply left CloudFormation working: wait for it rather than start another.
		progress("stack %s is %s (an earlier run's change): waiting", d.StackName, st.StackStatus)
		return d.waitStack(ctx, progress, time.Now().Add(-time.Hour))
	}
	csType := cfntypes.ChangeSetTypeUpdate
	if st == nil || st.StackStatus == cfntypes.StackStatusReviewInProgress {
		csType = cfntypes.ChangeSetTypeCreate
	}
	cs, err := d.Client.DescribeChangeSet(ctx, &cfn.DescribeChangeSetInput{StackName: aws.String(d.StackName), ChangeSetName: aws.String(d.ChangeSetName)})
	if err != nil || cs.ExecutionStatus == cfntypes.ExecutionStatusObsolete || cs.Status == cfntypes.ChangeSetStatusFailed {
		if err == nil { // stale or failed change set of an earlier attempt: replace it
			_, _ = d.Client.DeleteChangeSet(ctx, &cfn.DeleteChangeSetInput{StackName: aws.String(d.StackName), ChangeSetName: aws.String(d.ChangeSetName)})
		}
		in := &cfn.CreateChangeSetInput{
			StackName:     aws.String(d.StackName),
			ChangeSetName: aws.String(d.ChangeSetName),
			ChangeSetType: csType,
			Capabilities:  []cfntypes.Capability{cfntypes.CapabilityCapabilityIam, cfntypes.CapabilityCapabilityNamedIam, cfntypes.CapabilityCapabilityAutoExpand},
			Description:   aws.String("caro failover"),
		}
		if d.TemplateURL != "" {
			in.TemplateURL = aws.String(d.TemplateURL)
		} else {
			in.TemplateBody = aws.String(d.TemplateBody)
		}
		if _, err := d.Client.CreateChangeSet(ctx, in); err != nil {
			return fmt.Errorf("create change set %s on %s: %w", d.ChangeSetName, d.StackName, err)
		}
		progress("change set %s (%s) created, waiting for CloudFormation to compute it", d.ChangeSetName, csType)
		w := cfn.NewChangeSetCreateCompleteWaiter(d.Client, func(o *cfn.ChangeSetCreateCompleteWaiterOptions) {
			o.MinDelay, o.MaxDelay = d.poll(), max(d.poll(), waiterMaxDelay)
		})
		cs, err = w.WaitForOutput(ctx, &cfn.DescribeChangeSetInput{StackName: aws.String(d.StackName), ChangeSetName: aws.String(d.ChangeSetName)}, d.maxWait())
		if err != nil {
			out, derr := d.Client.DescribeChangeSet(ctx, &cfn.DescribeChangeSetInput{StackName: aws.String(d.StackName), ChangeSetName: aws.String(d.ChangeSetName)})
			if derr == nil && out.Status == cfntypes.ChangeSetStatusFailed && noChanges(aws.ToString(out.StatusReason)) {
				d.summary = fmt.Sprintf("stack %s already up to date (change set had no changes)", d.StackName)
				_, _ = d.Client.DeleteChangeSet(ctx, &cfn.DeleteChangeSetInput{StackName: aws.String(d.StackName), ChangeSetName: aws.String(d.ChangeSetName)})
				return nil
			}
			reason := ""
			if derr == nil {
				reason = aws.ToString(out.StatusReason)
			}
			return fmt.Errorf("change set %s on %s did not become ready: %v %s: read the reason in the CloudFormation console", d.ChangeSetName, d.StackName, err, reason)
		}
	}
	if cs.ExecutionStatus != cfntypes.ExecutionStatusAvailable {
		// Already executing or executed by an interrupted run.
		progress("change set %s is %s: waiting for the stack", d.ChangeSetName, cs.ExecutionStatus)
		return d.waitStack(ctx, progress, time.Now().Add(-time.Hour))
	}
	since := time.Now().Add(-2 * time.Second)
	if _, err := d.Client.ExecuteChangeSet(ctx, &cfn.ExecuteChangeSetInput{StackName: aws.String(d.StackName), ChangeSetName: aws.String(d.ChangeSetName)}); err != nil {
		return fmt.Errorf("execute change set %s on %s: %w", d.ChangeSetName, d.StackName, err)
	}
	progress("executing change set %s (%d changes)", d.ChangeSetName, len(cs.Changes))
	if err := d.waitStack(ctx, progress, since); err != nil {
		return err
	}
	d.summary = fmt.Sprintf("stack %s deployed by change set %s (%d resource changes)", d.StackName, d.ChangeSetName, len(cs.Changes))
	return nil
}

func noChanges(reason string) bool {
	return strings.Contains(reason, "didn't contain changes") || strings.Contains(reason, "No updates are to be performed")
}

// waitStack waits with the SDK waiter for the stack to settle while a second loop prints new stack
// events (oldest first) as progress.
func (d *StackDeployer) waitStack(ctx context.Context, progress func(string, ...any), since time.Time) error {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	seen := map[string]bool{}
	go func() {
		defer close(done)
		t := time.NewTicker(d.poll())
		defer t.Stop()
		for {
			d.printEvents(wctx, progress, since, seen)
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	w := cfn.NewStackUpdateCompleteWaiter(d.Client, func(o *cfn.StackUpdateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = d.poll(), max(d.poll(), waiterMaxDelay)
		// One acceptor for both change set types: done on CREATE/UPDATE_COMPLETE, failed on any
		// failure or rollback, retry while in progress.
		o.Retryable = func(_ context.Context, _ *cfn.DescribeStacksInput, out *cfn.DescribeStacksOutput, err error) (bool, error) {
			if err != nil {
				return false, err
			}
			if out == nil || len(out.Stacks) == 0 {
				return false, errors.New("stack disappeared")
			}
			s := out.Stacks[0].StackStatus
			switch {
			case s == cfntypes.StackStatusCreateComplete || s == cfntypes.StackStatusUpdateComplete:
				return false, nil
			case strings.HasSuffix(string(s), "_FAILED") || s == cfntypes.StackStatusRollbackComplete || s == cfntypes.StackStatusUpdateRollbackComplete:
				return false, fmt.Errorf("stack ended in %s", s)
			}
			return true, nil
		}
	})
	err := w.Wait(ctx, &cfn.DescribeStacksInput{StackName: aws.String(d.StackName)}, d.maxWait())
	stop()
	<-done
	// The last events (the stack's own completion) may have come after the last poll.
	d.printEvents(context.WithoutCancel(ctx), progress, since, seen)
	if err != nil {
		st, _ := d.stack(context.WithoutCancel(ctx))
		status := "unknown"
		if st != nil {
			status = string(st.StackStatus) + " " + aws.ToString(st.StackStatusReason)
		}
		return fmt.Errorf("stack %s did not deploy (%s): %w: see its events above; fix and run apply again", d.StackName, status, err)
	}
	return nil
}

func (d *StackDeployer) printEvents(ctx context.Context, progress func(string, ...any), since time.Time, seen map[string]bool) {
	out, err := d.Client.DescribeStackEvents(ctx, &cfn.DescribeStackEventsInput{StackName: aws.String(d.StackName)})
	if err != nil {
		return
	}
	// Events come newest first; print the unseen ones oldest first.
	for i := len(out.StackEvents) - 1; i >= 0; i-- {
		e := out.StackEvents[i]
		id := aws.ToString(e.EventId)
		if seen[id] || (e.Timestamp != nil && e.Timestamp.Before(since)) {
			continue
		}
		seen[id] = true
		line := fmt.Sprintf("%s %s %s", aws.ToString(e.LogicalResourceId), aws.ToString(e.ResourceType), e.ResourceStatus)
		if r := aws.ToString(e.ResourceStatusReason); r != "" {
			line += ": " + r
		}
		progress("%s", line)
	}
}

// Summary says what the deploy did.
func (d *StackDeployer) Summary() string { return d.summary }
