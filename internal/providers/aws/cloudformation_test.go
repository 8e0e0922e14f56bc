package aws

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/carohealth/platform/internal/localstack"
)

// fakeCloudFormation is an httptest CloudFormation (query protocol, API version 2010-05-15) that
// checks the documented request parameters of each action it serves and keeps one stack's state.
type fakeCloudFormation struct {
	t  *testing.T
	mu sync.Mutex
	// stack state
	exists   bool
	status   string
	template string
	// pending change set
	csName, csType, csTemplate, csStatus, csExec string
	csReason                                     string
	// describeUntilDone is how many DescribeStacks calls an execute stays IN_PROGRESS.
	describeUntilDone int
	inProgress        int
	finalStatus       string
	calls             []string
	// outputs are the stack's outputs in DescribeStacks.
	outputs map[string]string
	// templateURL is the TemplateURL of the last CreateChangeSet.
	templateURL string
	// executeRefused, when set, is ExecuteChangeSet's error message.
	executeRefused string
}

func (f *fakeCloudFormation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		f.t.Errorf("CloudFormation request %s %s content-type %q: want a form POST", r.Method, r.URL, r.Header.Get("Content-Type"))
	}
	if !strings.Contains(r.Header.Get("Authorization"), "/cloudformation/aws4_request") {
		f.t.Errorf("request not SigV4-signed for cloudformation: %q", r.Header.Get("Authorization"))
	}
	if err := r.ParseForm(); err != nil {
		// A body cut short is a request the client abandoned: the deployer cancels its
		// event-printing DescribeStackEvents when the waiter is done. Nothing to check there.
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			f.t.Errorf("CloudFormation request body: %v", err)
		}
		return
	}
	form := r.PostForm
	action := form.Get("Action")
	f.calls = append(f.calls, action)
	if form.Get("Version") != "2010-05-15" {
		f.t.Errorf("%s: Version = %q", action, form.Get("Version"))
	}
	need := func(keys ...string) bool {
		for _, k := range keys {
			if form.Get(k) == "" {
				f.t.Errorf("%s without required %s: %v", action, k, form)
				return false
			}
		}
		return true
	}
	reply := func(body string) {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<%sResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><%sResult>%s</%sResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></%sResponse>`, action, action, body, action, action)
	}
	fail := func(code, msg string) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(400)
		fmt.Fprintf(w, `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`, code, esc(msg))
	}
	stackName := form.Get("StackName")
	switch action {
	case "DescribeStacks":
		need("StackName")
		if !f.exists {
			fail("ValidationError", "Stack with id "+stackName+" does not exist")
			return
		}
		if strings.HasSuffix(f.status, "_IN_PROGRESS") {
			f.inProgress++
			if f.inProgress >= f.describeUntilDone {
				f.status = f.finalStatus
			}
		}
		outs := ""
		for k, v := range f.outputs {
			outs += `<member><OutputKey>` + esc(k) + `</OutputKey><OutputValue>` + esc(v) + `</OutputValue></member>`
		}
		reply(fmt.Sprintf(`<Stacks><member><StackName>%s</StackName><StackId>arn:aws:cloudformation:eu-central-1:111122223333:stack/%s/1</StackId><StackStatus>%s</StackStatus><CreationTime>2026-11-01T00:00:00Z</CreationTime><Outputs>%s</Outputs></member></Stacks>`, stackName, stackName, f.status, outs))
	case "GetTemplate":
		need("StackName")
		if form.Get("TemplateStage") != "Original" {
			f.t.Errorf("GetTemplate TemplateStage = %q, want Original", form.Get("TemplateStage"))
		}
		reply(`<TemplateBody>` + esc(f.template) + `</TemplateBody>`)
	case "CreateChangeSet":
		if !need("StackName", "ChangeSetName", "ChangeSetType") {
			return
		}
		if f.csName != "" && f.csName == form.Get("ChangeSetName") {
			// CloudFormation refuses a second change set of the same name on a stack.
			fail("AlreadyExistsException", "ChangeSet "+f.csName+" already exists")
			return
		}
		if form.Get("TemplateBody") == "" && form.Get("TemplateURL") == "" {
			f.t.Error("CreateChangeSet without TemplateBody or TemplateURL")
		}
		caps := []string{form.Get("Capabilities.member.1"), form.Get("Capabilities.member.2"), form.Get("Capabilities.member.3")}
		if !strings.Contains(strings.Join(caps, ","), "CAPABILITY_NAMED_IAM") {
			f.t.Errorf("CreateChangeSet capabilities %v lack CAPABILITY_NAMED_IAM (the stack creates named roles)", caps)
		}
		if want := map[bool]string{true: "UPDATE", false: "CREATE"}[f.exists]; form.Get("ChangeSetType") != want {
			f.t.Errorf("ChangeSetType = %q, want %q", form.Get("ChangeSetType"), want)
		}
		f.csName, f.csType, f.csTemplate = form.Get("ChangeSetName"), form.Get("ChangeSetType"), form.Get("TemplateBody")
		f.templateURL = form.Get("TemplateURL")
		if len(f.csTemplate) > 51200 {
			f.t.Errorf("CreateChangeSet with a %d-byte TemplateBody: CloudFormation refuses more than 51,200 bytes", len(f.csTemplate))
		}
		f.csStatus, f.csExec, f.csReason = "CREATE_COMPLETE", "AVAILABLE", ""
		if f.csTemplate == f.template && f.exists {
			f.csStatus, f.csExec, f.csReason = "FAILED", "UNAVAILABLE", "The submitted information didn't contain changes. Submit different information to create a change set."
		}
		if !f.exists {
			f.exists, f.status = true, "REVIEW_IN_PROGRESS"
		}
		reply(`<Id>arn:aws:cloudformation:eu-central-1:111122223333:changeSet/` + f.csName + `/1</Id><StackId>arn:aws:cloudformation:eu-central-1:111122223333:stack/` + stackName + `/1</StackId>`)
	case "DescribeChangeSet":
		need("StackName", "ChangeSetName")
		if f.csName == "" || f.csName != form.Get("ChangeSetName") {
			fail("ChangeSetNotFound", "ChangeSet ["+form.Get("ChangeSetName")+"] does not exist")
			return
		}
		reply(fmt.Sprintf(`<ChangeSetName>%s</ChangeSetName><StackName>%s</StackName><Status>%s</Status><ExecutionStatus>%s</ExecutionStatus><StatusReason>%s</StatusReason><Changes><member><Type>Resource</Type></member><member><Type>Resource</Type></member></Changes>`,
			f.csName, stackName, f.csStatus, f.csExec, esc(f.csReason)))
	case "ExecuteChangeSet":
		need("StackName", "ChangeSetName")
		if f.executeRefused != "" {
			fail("InsufficientCapabilitiesException", f.executeRefused)
			return
		}
		if f.csExec != "AVAILABLE" {
			fail("InvalidChangeSetStatus", "ChangeSet is in an invalid status")
			return
		}
		f.csExec = "EXECUTE_IN_PROGRESS"
		if f.csType == "CREATE" {
			f.status, f.finalStatus = "CREATE_IN_PROGRESS", "CREATE_COMPLETE"
		} else {
			f.status, f.finalStatus = "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"
		}
		f.template, f.inProgress = f.csTemplate, 0
		reply("")
	case "DeleteChangeSet":
		need("StackName", "ChangeSetName")
		f.csName = ""
		reply("")
	case "DescribeStackEvents":
		need("StackName")
		reply(fmt.Sprintf(`<StackEvents><member><EventId>e2</EventId><StackName>%s</StackName><LogicalResourceId>Api</LogicalResourceId><ResourceType>AWS::Lambda::Function</ResourceType><ResourceStatus>UPDATE_COMPLETE</ResourceStatus><Timestamp>%s</Timestamp></member><member><EventId>e1</EventId><StackName>%s</StackName><LogicalResourceId>Api</LogicalResourceId><ResourceType>AWS::Lambda::Function</ResourceType><ResourceStatus>UPDATE_IN_PROGRESS</ResourceStatus><Timestamp>%s</Timestamp></member></StackEvents>`,
			stackName, time.Now().UTC().Format(time.RFC3339), stackName, time.Now().UTC().Format(time.RFC3339)))
	default:
		f.t.Errorf("unexpected CloudFormation action %q", action)
		fail("InvalidAction", action)
	}
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func newCFN(t *testing.T, f *fakeCloudFormation) *cfn.Client {
	f.t = t
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return cfn.NewFromConfig(localstack.AWSConfig("eu-central-1", srv.URL))
}

const tmplV1 = `{"Resources":{"Api":{"Type":"AWS::Lambda::Function","Properties":{"MemorySize":512}}}}`
const tmplV2 = `{"Resources":{"Api":{"Type":"AWS::Lambda::Function","Properties":{"MemorySize":1024}}}}`

func TestStackDeployerSkipsMatchingTemplate(t *testing.T) {
	f := &fakeCloudFormation{exists: true, status: "UPDATE_COMPLETE", template: tmplV1}
	d := &StackDeployer{Client: newCFN(t, f), StackName: "CaroPlatform-eu-central-1", TemplateBody: `{ "Resources": {"Api": {"Properties": {"MemorySize": 512}, "Type": "AWS::Lambda::Function"}}}`}
	ok, err := d.Matches(context.Background())
	if err != nil || !ok {
		t.Fatalf("Matches = %v, %v; want true (same JSON, other formatting)", ok, err)
	}
	d.TemplateBody = tmplV2
	if ok, _ := d.Matches(context.Background()); ok {
		t.Fatal("Matches = true for a changed template")
	}
}

func TestStackDeployerUpdatesThroughChangeSetWithEvents(t *testing.T) {
	f := &fakeCloudFormation{exists: true, status: "UPDATE_COMPLETE", template: tmplV1, describeUntilDone: 2}
	d := &StackDeployer{Client: newCFN(t, f), StackName: "CaroPlatform-eu-central-1", TemplateBody: tmplV2, ChangeSetName: "caro-failover-p1", PollInterval: 10 * time.Millisecond}
	var lines []string
	err := d.Deploy(context.Background(), func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) })
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock() // the fake's state is written by its handler goroutines
	defer f.mu.Unlock()
	if f.status != "UPDATE_COMPLETE" || f.template != tmplV2 {
		t.Fatalf("stack %s template %s", f.status, f.template)
	}
	got := strings.Join(f.calls, ",")
	for _, want := range []string{"CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet", "DescribeStacks", "DescribeStackEvents"} {
		if !strings.Contains(got, want) {
			t.Errorf("calls %s lack %s", got, want)
		}
	}
	if !strings.Contains(strings.Join(lines, "\n"), "Api AWS::Lambda::Function UPDATE_IN_PROGRESS") {
		t.Errorf("progress lines lack the stack events: %q", lines)
	}
	if !strings.Contains(d.Summary(), "caro-failover-p1") {
		t.Errorf("summary %q", d.Summary())
	}
}

func TestStackDeployerCreatesMissingStack(t *testing.T) {
	f := &fakeCloudFormation{describeUntilDone: 1}
	d := &StackDeployer{Client: newCFN(t, f), StackName: "CaroPlatform-eu-central-1", TemplateBody: tmplV1, ChangeSetName: "cs", PollInterval: 5 * time.Millisecond}
	if err := d.Deploy(context.Background(), func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status != "CREATE_COMPLETE" || f.csType != "CREATE" {
		t.Fatalf("status %s type %s", f.status, f.csType)
	}
}

func TestStackDeployerNoChangesIsSuccess(t *testing.T) {
	f := &fakeCloudFormation{exists: true, status: "UPDATE_COMPLETE", template: tmplV1}
	d := &StackDeployer{Client: newCFN(t, f), StackName: "CaroPlatform-eu-central-1", TemplateBody: tmplV1, ChangeSetName: "cs", PollInterval: 5 * time.Millisecond, MaxWait: 5 * time.Second}
	if err := d.Deploy(context.Background(), func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !strings.Contains(d.Summary(), "up to date") || strings.Contains(strings.Join(f.calls, ","), "ExecuteChangeSet") {
		t.Fatalf("summary %q calls %v", d.Summary(), f.calls)
	}
}
