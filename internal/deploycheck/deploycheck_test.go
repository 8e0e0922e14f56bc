package deploycheck

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// account is the state the fakes answer from; each test changes what it needs.
type account struct {
	mu                    sync.Mutex
	bootstrap             map[string]string // region -> version ("" : not bootstrapped)
	quota, unreserved     int
	sandbox               bool
	spendLimit            string
	activated             map[string]bool // type name -> activated (absent: not found)
	atlasSecret           string          // "" : no secret
	oidcProviders         []string
	edgeProvider          string // physical ID of the edge stack's provider ("" : no stack)
	zoneName              string
	atlasRoles            []map[string]any
	calls                 []string
	atlasAuthorizedDigest bool
}

func healthyAccount() *account {
	return &account{
		bootstrap: map[string]string{"eu-west-1": "21", "us-east-1": "21"}, quota: 1000, unreserved: 1000, spendLimit: "50",
		activated:   map[string]bool{"MongoDB::Atlas::EncryptionAtRest": true},
		atlasSecret: `{"PublicKey":"pubkey","PrivateKey":"privkey"}`, zoneName: "caro.health.",
		atlasRoles: []map[string]any{{"providerName": "AWS", "roleId": "65a1f0c2e4b0a1b2c3d4e601", "atlasAWSAccountArn": "arn:aws:iam::536727724300:root",
			"atlasAssumedRoleExternalId": "ext-1", "iamAssumedRoleArn": "arn:aws:iam::123456789012:role/caro-atlas-kms-eu-west-1"}},
	}
}

func (a *account) record(call string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, call)
}

// awsFake is one httptest server answering every AWS API the checks call, as each documents its
// protocol: Lambda and Route 53 REST, SNS, IAM and CloudFormation the query protocol (POST form
// with Action and Version), SSM and Secrets Manager JSON 1.1 (X-Amz-Target).
func awsFake(t *testing.T, a *account) *httptest.Server {
	t.Helper()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(format string, args ...any) {
			t.Errorf(format, args...)
			http.Error(w, "unexpected request", http.StatusBadRequest)
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			fail("%s %s is not SigV4-signed", r.Method, r.URL.Path)
			return
		}
		region := signedRegion(r)
		switch target := r.Header.Get("X-Amz-Target"); {
		case r.Method == http.MethodGet && strings.TrimSuffix(r.URL.Path, "/") == "/2016-08-19/account-settings":
			a.record("lambda:GetAccountSettings@" + region)
			fmt.Fprintf(w, `{"AccountLimit":{"ConcurrentExecutions":%d,"UnreservedConcurrentExecutions":%d,"TotalCodeSize":80530636800,"CodeSizeUnzipped":262144000,"CodeSizeZipped":52428800},"AccountUsage":{"TotalCodeSize":0,"FunctionCount":0}}`, a.quota, a.unreserved)
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/2013-04-01/hostedzone/"):
			a.record("route53:GetHostedZone " + strings.TrimPrefix(r.URL.Path, "/2013-04-01/hostedzone/"))
			if a.zoneName == "" {
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprint(w, `<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>NoSuchHostedZone</Code><Message>No hosted zone found</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
				return
			}
			fmt.Fprintf(w, `<GetHostedZoneResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><HostedZone><Id>/hostedzone/Z1</Id><Name>%s</Name><CallerReference>c</CallerReference><Config><PrivateZone>false</PrivateZone></Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone></GetHostedZoneResponse>`, a.zoneName)
		case target == "AmazonSSM.GetParameter":
			var in struct{ Name string }
			json.NewDecoder(r.Body).Decode(&in)
			a.record("ssm:GetParameter " + in.Name + "@" + region)
			if v := a.bootstrap[region]; v != "" && in.Name == "/cdk-bootstrap/hnb659fds/version" {
				fmt.Fprintf(w, `{"Parameter":{"Name":%q,"Type":"String","Value":%q,"Version":1}}`, in.Name, v)
				return
			}
			jsonError(w, "ParameterNotFound")
		case target == "secretsmanager.GetSecretValue":
			var in struct{ SecretId string }
			json.NewDecoder(r.Body).Decode(&in)
			a.record("secretsmanager:GetSecretValue " + in.SecretId + "@" + region)
			if a.atlasSecret == "" || in.SecretId != "cfn/atlas/profile/default" {
				jsonError(w, "ResourceNotFoundException")
				return
			}
			fmt.Fprintf(w, `{"ARN":"arn:aws:secretsmanager:%s:123456789012:secret:%s-AbCdEf","Name":%q,"SecretString":%q}`, region, in.SecretId, in.SecretId, a.atlasSecret)
		case r.Method == http.MethodPost && target == "":
			if err := r.ParseForm(); err != nil {
				fail("form: %v", err)
				return
			}
			queryAPI(t, w, r.Form, region, a, fail)
		default:
			fail("unexpected request %s %s (target %q)", r.Method, r.URL.Path, target)
		}
	}))
}

// queryAPI answers the query-protocol calls, checking each one's Version.
func queryAPI(t *testing.T, w http.ResponseWriter, form map[string][]string, region string, a *account, fail func(string, ...any)) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	versions := map[string]string{"GetSMSSandboxAccountStatus": "2010-03-31", "GetSMSAttributes": "2010-03-31",
		"DescribeType": "2010-05-15", "DescribeStackResource": "2010-05-15", "ListOpenIDConnectProviders": "2010-05-08"}
	action := get("Action")
	if want, ok := versions[action]; !ok || get("Version") != want {
		fail("query action %q version %q", action, get("Version"))
		return
	}
	a.record(action + "@" + region)
	switch action {
	case "GetSMSSandboxAccountStatus":
		fmt.Fprintf(w, `<GetSMSSandboxAccountStatusResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><GetSMSSandboxAccountStatusResult><IsInSandbox>%t</IsInSandbox></GetSMSSandboxAccountStatusResult></GetSMSSandboxAccountStatusResponse>`, a.sandbox)
	case "GetSMSAttributes":
		if get("attributes.member.1") != "MonthlySpendLimit" {
			fail("GetSMSAttributes asks for %v", form)
		}
		fmt.Fprintf(w, `<GetSMSAttributesResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><GetSMSAttributesResult><attributes><entry><key>MonthlySpendLimit</key><value>%s</value></entry></attributes></GetSMSAttributesResult></GetSMSAttributesResponse>`, a.spendLimit)
	case "DescribeType":
		name := get("TypeName")
		activated, ok := a.activated[name]
		if get("Type") != "RESOURCE" || !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>TypeNotFoundException</Code><Message>not found</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
			return
		}
		fmt.Fprintf(w, `<DescribeTypeResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeTypeResult><TypeName>%s</TypeName><Type>RESOURCE</Type><IsActivated>%t</IsActivated></DescribeTypeResult></DescribeTypeResponse>`, name, activated)
	case "DescribeStackResource":
		if a.edgeProvider == "" || get("StackName") != "CaroEdge" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id CaroEdge does not exist</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
			return
		}
		fmt.Fprintf(w, `<DescribeStackResourceResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStackResourceResult><StackResourceDetail><StackName>CaroEdge</StackName><LogicalResourceId>%s</LogicalResourceId><PhysicalResourceId>%s</PhysicalResourceId><ResourceType>AWS::IAM::OIDCProvider</ResourceType><ResourceStatus>CREATE_COMPLETE</ResourceStatus><LastUpdatedTimestamp>2026-01-01T00:00:00Z</LastUpdatedTimestamp></StackResourceDetail></DescribeStackResourceResult></DescribeStackResourceResponse>`, get("LogicalResourceId"), a.edgeProvider)
	case "ListOpenIDConnectProviders":
		var members string
		for _, arn := range a.oidcProviders {
			members += "<member><Arn>" + arn + "</Arn></member>"
		}
		fmt.Fprintf(w, `<ListOpenIDConnectProvidersResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ListOpenIDConnectProvidersResult><OpenIDConnectProviderList>%s</OpenIDConnectProviderList></ListOpenIDConnectProvidersResult></ListOpenIDConnectProvidersResponse>`, members)
	}
}

func jsonError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `{"__type":%q,"message":"fake: %s"}`, code, code)
}

// signedRegion is the region in the request's SigV4 credential scope.
func signedRegion(r *http.Request) string {
	_, scope, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	parts := strings.Split(scope, "/")
	if len(parts) > 2 {
		return parts[2]
	}
	return ""
}

// atlasFake is the Admin API's cloudProviderAccess listing behind HTTP digest authentication.
func atlasFake(t *testing.T, a *account) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Get("Authorization")
		if !strings.HasPrefix(authz, "Digest ") {
			w.Header().Set("WWW-Authenticate", `Digest realm="MMS Public API", domain="", nonce="fakenonce", algorithm=MD5, qop="auth", stale=false`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if !strings.Contains(authz, `username="pubkey"`) || r.Method != http.MethodGet || r.URL.Path != "/api/atlas/v2/groups/65a1f0c2e4b0a1b2c3d4e5f6/cloudProviderAccess" {
			t.Errorf("atlas: %s %s with %s", r.Method, r.URL.Path, authz)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		a.record("atlas:cloudProviderAccess")
		w.Header().Set("Content-Type", "application/vnd.atlas.2023-01-01+json")
		json.NewEncoder(w).Encode(map[string]any{"awsIamRoles": a.atlasRoles})
	}))
}

// assemblyDir writes a small cloud assembly: an edge stack creating the OIDC provider and a
// platform stack in eu-west-1 reserving 27 executions and declaring an Atlas type.
func assemblyDir(t *testing.T) string {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stack := func(region, file string) string {
		return fmt.Sprintf(`{"type":"aws:cloudformation:stack","environment":"aws://unknown-account/%s","properties":{"templateFile":%q,"requiresBootstrapStackVersion":6,"bootstrapStackVersionSsmParameter":"/cdk-bootstrap/hnb659fds/version"}}`, region, file)
	}
	write("manifest.json", `{"version":"48.0.0","artifacts":{"Tree":{"type":"cdk:tree"},"CaroEdge":`+stack("us-east-1", "CaroEdge.template.json")+
		`,"CaroPlatform-eu-west-1":`+stack("eu-west-1", "CaroPlatform-eu-west-1.template.json")+`}}`)
	write("CaroEdge.template.json", `{"Resources":{"RolesGitLabOidc1":{"Type":"AWS::IAM::OIDCProvider","Properties":{}}}}`)
	write("CaroPlatform-eu-west-1.template.json", `{"Resources":{
		"Api":{"Type":"AWS::Lambda::Function","Properties":{"ReservedConcurrentExecutions":20}},
		"Writer":{"Type":"AWS::Lambda::Function","Properties":{"ReservedConcurrentExecutions":7}},
		"Unreserved":{"Type":"AWS::Lambda::Function","Properties":{}},
		"Ear":{"Type":"MongoDB::Atlas::EncryptionAtRest","Properties":{}},
		"Deploy":{"Type":"Custom::CDKBucketDeployment","Properties":{}}}}`)
	return dir
}

// run runs the checks against the fakes with a's state.
func run(t *testing.T, a *account) Report {
	t.Helper()
	aws1, atlas1 := awsFake(t, a), atlasFake(t, a)
	t.Cleanup(aws1.Close)
	t.Cleanup(atlas1.Close)
	asm, err := ReadAssembly(assemblyDir(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(aws1.URL), Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}
	report, err := Run(context.Background(), Options{
		Assembly: asm, GitLabURL: "https://gitlab.com", EdgeStack: "CaroEdge", AtlasCredentialsSecret: "cfn/atlas/profile/default",
		Regions: []Region{{Name: "eu-west-1", Domain: "caro.health", HostedZoneID: "Z04817572CAROHEALTH1", Atlas: &AtlasAccess{
			ProjectID: "65a1f0c2e4b0a1b2c3d4e5f6", RoleID: "65a1f0c2e4b0a1b2c3d4e601", ExternalID: "ext-1", AtlasAWSAccountARN: "arn:aws:iam::536727724300:root"}}},
		Clients: SDKClients{Config: cfg, AtlasBaseURL: atlas1.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	return report
}

// statuses maps check@region to its status.
func statuses(r Report) map[string]Status {
	out := map[string]Status{}
	for _, f := range r.Findings {
		out[f.Check+"@"+f.Region] = f.Status
	}
	return out
}

func TestAReadyAccountHasNoBlocker(t *testing.T) {
	// GIVEN an account ready for the first deploy WHEN the checks run
	a := healthyAccount()
	r := run(t, a)
	// THEN every check passes, in every region of the assembly
	if r.Blocked() {
		t.Errorf("blocked: %+v", r.Findings)
	}
	want := []string{"cdk-bootstrap@us-east-1", "cdk-bootstrap@eu-west-1", "lambda-concurrency@eu-west-1", "sns-sms-sandbox@eu-west-1",
		"sns-sms-spend-limit@eu-west-1", "atlas-extension@eu-west-1", "atlas-credentials@eu-west-1", "atlas-key-role@eu-west-1",
		"hosted-zone@eu-west-1", "gitlab-oidc-provider@global"}
	got := statuses(r)
	for _, w := range want {
		if got[w] != OK {
			t.Errorf("%s: %q, want ok (%+v)", w, got[w], r.Findings)
		}
	}
	// AND it only read: every call is a Get, List or Describe
	for _, c := range a.calls {
		name := c[strings.LastIndex(c, ":")+1:]
		if !strings.HasPrefix(name, "Get") && !strings.HasPrefix(name, "List") && !strings.HasPrefix(name, "Describe") && !strings.HasPrefix(name, "cloudProviderAccess") {
			t.Errorf("call %s is not a read", c)
		}
	}
}

func TestEachProblemIsABlockerThatSaysWhatToDo(t *testing.T) {
	for name, c := range map[string]struct {
		change func(*account)
		check  string
		status Status
		fix    string
	}{
		"a region not bootstrapped":                {func(a *account) { delete(a.bootstrap, "eu-west-1") }, "cdk-bootstrap@eu-west-1", Blocker, "cdk bootstrap aws://<account>/eu-west-1"},
		"an old bootstrap":                         {func(a *account) { a.bootstrap["us-east-1"] = "5" }, "cdk-bootstrap@us-east-1", Blocker, "cdk bootstrap"},
		"a quota too low to reserve":               {func(a *account) { a.quota, a.unreserved = 100, 100 }, "lambda-concurrency@eu-west-1", Blocker, "at least 127"},
		"others reserve the rest":                  {func(a *account) { a.unreserved = 110 }, "lambda-concurrency@eu-west-1", Warning, "free reservations"},
		"SMS in the sandbox":                       {func(a *account) { a.sandbox = true }, "sns-sms-sandbox@eu-west-1", Blocker, "Exit SMS sandbox"},
		"the default SMS spend limit":              {func(a *account) { a.spendLimit = "1" }, "sns-sms-spend-limit@eu-west-1", Blocker, "MonthlySpendLimit"},
		"an Atlas type not activated":              {func(a *account) { delete(a.activated, "MongoDB::Atlas::EncryptionAtRest") }, "atlas-extension@eu-west-1", Blocker, "activate the public extension"},
		"no Atlas credentials":                     {func(a *account) { a.atlasSecret = "" }, "atlas-credentials@eu-west-1", Blocker, "cfn/atlas/profile/default"},
		"malformed Atlas credentials":              {func(a *account) { a.atlasSecret = `{"publicKey":"x"}` }, "atlas-credentials@eu-west-1", Blocker, "PublicKey"},
		"the key role unknown to Atlas":            {func(a *account) { a.atlasRoles = nil }, "atlas-key-role@eu-west-1", Blocker, "accessRoles aws create"},
		"the key role authorized for another role": {func(a *account) { a.atlasRoles[0]["iamAssumedRoleArn"] = "arn:aws:iam::123456789012:role/other" }, "atlas-key-role@eu-west-1", Warning, "relies on"},
		"another external ID":                      {func(a *account) { a.atlasRoles[0]["atlasAssumedRoleExternalId"] = "ext-2" }, "atlas-key-role@eu-west-1", Blocker, "atlas.keyAccess"},
		"no hosted zone":                           {func(a *account) { a.zoneName = "" }, "hosted-zone@eu-west-1", Blocker, "hostedZoneId"},
		"a zone of another domain":                 {func(a *account) { a.zoneName = "caro.app." }, "hosted-zone@eu-west-1", Blocker, "hostedZoneId"},
		"an OIDC provider of another stack": {func(a *account) {
			a.oidcProviders = []string{"arn:aws:iam::123456789012:oidc-provider/gitlab.com"}
		}, "gitlab-oidc-provider@global", Blocker, "-c gitlabOidcProviderArn=arn:aws:iam::123456789012:oidc-provider/gitlab.com"},
	} {
		t.Run("GIVEN "+name, func(t *testing.T) {
			a := healthyAccount()
			c.change(a)
			// WHEN the checks run
			r := run(t, a)
			// THEN that check says so, with what to do
			var found *Finding
			for i, f := range r.Findings {
				if f.Check+"@"+f.Region == c.check {
					found = &r.Findings[i]
				}
			}
			if found == nil || found.Status != c.status || !strings.Contains(found.Fix, c.fix) || found.Detail == "" {
				t.Fatalf("%s: %+v, want %s with a fix naming %q", c.check, found, c.status, c.fix)
			}
			if r.Blocked() != (c.status == Blocker) {
				t.Errorf("Blocked() = %v", r.Blocked())
			}
		})
	}
}

func TestAKeyRoleNotYetAuthorizedIsForTheDeploy(t *testing.T) {
	// GIVEN the project's role is not authorized yet WHEN the checks run
	a := healthyAccount()
	delete(a.atlasRoles[0], "iamAssumedRoleArn")
	// THEN that is fine: the platform stack authorizes it before encryption at rest
	if got := statuses(run(t, a))["atlas-key-role@eu-west-1"]; got != OK {
		t.Errorf("status %s, want ok", got)
	}
}

func TestTheEdgeStacksOwnProviderIsNoBlocker(t *testing.T) {
	// GIVEN the provider was created by the edge stack's earlier deploy
	a := healthyAccount()
	a.oidcProviders = []string{"arn:aws:iam::123456789012:oidc-provider/gitlab.com"}
	a.edgeProvider = a.oidcProviders[0]
	// WHEN the checks run THEN the provider is the stack's own
	if got := statuses(run(t, a))["gitlab-oidc-provider@global"]; got != OK {
		t.Errorf("status %s, want ok", got)
	}
}

func TestAnAPIThatRefusesIsUnknownNotOK(t *testing.T) {
	// GIVEN credentials the APIs refuse
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"__type":"AccessDeniedException","message":"denied"}`)
	}))
	defer srv.Close()
	asm, err := ReadAssembly(assemblyDir(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), RetryMaxAttempts: 1}
	r, err := Run(context.Background(), Options{Assembly: asm, GitLabURL: "https://gitlab.com", EdgeStack: "CaroEdge", AtlasCredentialsSecret: "cfn/atlas/profile/default",
		Regions: []Region{{Name: "eu-west-1", Domain: "caro.health", HostedZoneID: "Z1"}}, Clients: SDKClients{Config: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	// THEN nothing is reported OK and the run is blocked, saying what could not be read
	for _, f := range r.Findings {
		if f.Status == OK {
			t.Errorf("%s@%s is ok though nothing could be read", f.Check, f.Region)
		}
	}
	if !r.Blocked() || !strings.Contains(r.Findings[0].Detail, "could not") {
		t.Errorf("report %+v", r.Findings)
	}
}

func TestReadAssemblySaysToSynthesizeFirst(t *testing.T) {
	if _, err := ReadAssembly(t.TempDir()); err == nil || !strings.Contains(err.Error(), "make synth") {
		t.Errorf("err = %v", err)
	}
	asm, err := ReadAssembly(assemblyDir(t))
	if err != nil {
		t.Fatal(err)
	}
	p := asm.Stacks[1]
	if p.Name != "CaroPlatform-eu-west-1" || p.ReservedConcurrency != 27 || p.BootstrapVersion != 6 || strings.Join(p.ExtensionTypes, ",") != "MongoDB::Atlas::EncryptionAtRest" {
		t.Errorf("platform stack %+v", p)
	}
	if e := asm.Stacks[0]; e.Region != "us-east-1" || strings.Join(e.OIDCProviders, ",") != "RolesGitLabOidc1" {
		t.Errorf("edge stack %+v", e)
	}
}
