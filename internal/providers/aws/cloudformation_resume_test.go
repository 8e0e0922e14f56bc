package aws

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/carohealth/platform/internal/localstack"
)

// TestStackDeployerReplacesAStaleOrFailedChangeSet: a resumed deploy that finds its change set
// failed (a template error of an earlier attempt) or obsolete (the stack changed since) deletes it
// and deploys a fresh one, rather than waiting on a stack that will never get the new template.
func TestStackDeployerReplacesAStaleOrFailedChangeSet(t *testing.T) {
	for name, cs := range map[string][3]string{
		"failed":   {"FAILED", "UNAVAILABLE", "Template format error: unresolved resource dependencies"},
		"obsolete": {"CREATE_COMPLETE", "OBSOLETE", ""},
	} {
		t.Run(name, func(t *testing.T) {
			// GIVEN the stack at v1 and the earlier attempt's change set of the same name
			f := &fakeCloudFormation{exists: true, status: "UPDATE_COMPLETE", template: tmplV1, describeUntilDone: 1,
				csName: "caro-failover-p1", csType: "UPDATE", csTemplate: tmplV1, csStatus: cs[0], csExec: cs[1], csReason: cs[2]}
			d := &StackDeployer{Client: newCFN(t, f), StackName: "CaroPlatform-eu-central-1", TemplateBody: tmplV2,
				ChangeSetName: "caro-failover-p1", PollInterval: 5 * time.Millisecond, MaxWait: 10 * time.Second}
			// WHEN the deploy runs again
			if err := d.Deploy(context.Background(), func(string, ...any) {}); err != nil {
				t.Fatal(err)
			}
			// THEN the old change set was deleted before a new one deployed v2
			f.mu.Lock()
			defer f.mu.Unlock()
			calls := strings.Join(f.calls, ",")
			del, create := strings.Index(calls, "DeleteChangeSet"), strings.Index(calls, "CreateChangeSet")
			if del < 0 || create < del || !strings.Contains(calls, "ExecuteChangeSet") {
				t.Fatalf("calls %s: want DeleteChangeSet, then CreateChangeSet and ExecuteChangeSet", calls)
			}
			if f.template != tmplV2 || f.status != "UPDATE_COMPLETE" {
				t.Fatalf("stack %s with template %s, want v2 deployed", f.status, f.template)
			}
		})
	}
}

// TestStackDeployerPacingDefaults: without settings the deployer polls every 10 s and gives up
// after 45 minutes; settings replace both.
func TestStackDeployerPacingDefaults(t *testing.T) {
	var d StackDeployer
	if d.poll() != 10*time.Second || d.maxWait() != 45*time.Minute {
		t.Fatalf("defaults: poll %s, max wait %s", d.poll(), d.maxWait())
	}
	d.PollInterval, d.MaxWait = time.Millisecond, time.Second
	if d.poll() != time.Millisecond || d.maxWait() != time.Second {
		t.Fatalf("settings: poll %s, max wait %s", d.poll(), d.maxWait())
	}
}

// stackEventsServer answers DescribeStackEvents with events, newest first as CloudFormation does.
func stackEventsServer(t *testing.T, events ...string) *cfn.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("Action") != "DescribeStackEvents" || r.PostForm.Get("StackName") == "" {
			t.Errorf("request %v %v: want DescribeStackEvents of a stack", r.PostForm, err)
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<DescribeStackEventsResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStackEventsResult><StackEvents>%s</StackEvents></DescribeStackEventsResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeStackEventsResponse>`, strings.Join(events, ""))
	}))
	t.Cleanup(srv.Close)
	return cfn.NewFromConfig(localstack.AWSConfig("eu-central-1", srv.URL))
}

func stackEvent(id, resource, status, reason string, at time.Time) string {
	return fmt.Sprintf(`<member><EventId>%s</EventId><StackName>S</StackName><LogicalResourceId>%s</LogicalResourceId><ResourceType>AWS::Lambda::Function</ResourceType><ResourceStatus>%s</ResourceStatus><ResourceStatusReason>%s</ResourceStatusReason><Timestamp>%s</Timestamp></member>`,
		id, resource, status, esc(reason), at.UTC().Format(time.RFC3339))
}

// TestDeployProgressPrintsEachNewStackEventOnceOldestFirst: the deploy's progress shows every stack
// event of this deploy once, oldest first, the newest included, with CloudFormation's reason (the
// line that says why a resource failed); events from before the deploy are not shown.
func TestDeployProgressPrintsEachNewStackEventOnceOldestFirst(t *testing.T) {
	since := time.Now().Add(-time.Minute)
	client := stackEventsServer(t,
		stackEvent("e3", "Api", "UPDATE_FAILED", "Resource handler returned message: MemorySize too large", since.Add(30*time.Second)),
		stackEvent("e2", "Api", "UPDATE_IN_PROGRESS", "", since.Add(10*time.Second)),
		stackEvent("e1", "Old", "UPDATE_COMPLETE", "", since.Add(-time.Hour)),
	)
	d := &StackDeployer{Client: client, StackName: "S"}
	var lines []string
	progress := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	seen := map[string]bool{}
	d.printEvents(context.Background(), progress, since, seen)
	d.printEvents(context.Background(), progress, since, seen) // a second poll prints nothing again
	want := []string{
		"Api AWS::Lambda::Function UPDATE_IN_PROGRESS",
		"Api AWS::Lambda::Function UPDATE_FAILED: Resource handler returned message: MemorySize too large",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("progress:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
