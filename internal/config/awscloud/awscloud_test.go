package awscloud_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/config/awscloud"
)

// fakeAWS is a FAKE of the four read calls, checking each request's documented shape:
// CloudFormation DescribeStacks and STS GetCallerIdentity (query protocol: a signed form POST with
// Action and Version), Secrets Manager GetSecretValue and SSM GetParameter (AWS JSON 1.1: the
// operation in X-Amz-Target, a JSON body).
type fakeAWS struct {
	t       *testing.T
	outputs map[string]string // CaroPlatform-eu-central-1's outputs
	secrets map[string]string
	params  map[string]string
	denied  bool // every secret read is refused
	// assumed are the roles asked for (STS AssumeRole); callers records each call's access key.
	assumed, callers []string
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	if !strings.Contains(auth, "AWS4-HMAC-SHA256") {
		f.t.Errorf("request not SigV4-signed: %q", auth)
	}
	if _, cred, ok := strings.Cut(auth, "Credential="); ok {
		key, _, _ := strings.Cut(cred, "/")
		f.callers = append(f.callers, key)
	}
	switch target := r.Header.Get("X-Amz-Target"); target {
	case "secretsmanager.GetSecretValue":
		f.secret(w, r)
	case "AmazonSSM.GetParameter":
		f.parameter(w, r)
	case "":
		f.query(w, r)
	default:
		f.t.Errorf("unexpected operation %q", target)
		w.WriteHeader(400)
	}
}

func (f *fakeAWS) jsonError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"__type":%q,"message":%q}`, typ, msg)
}

func (f *fakeAWS) secret(w http.ResponseWriter, r *http.Request) {
	var in struct{ SecretId string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.SecretId == "" {
		f.t.Errorf("GetSecretValue without SecretId: %v", err)
	}
	if f.denied {
		f.jsonError(w, 400, "AccessDeniedException", "User is not authorized to perform: secretsmanager:GetSecretValue")
		return
	}
	v, ok := f.secrets[in.SecretId]
	if !ok {
		f.jsonError(w, 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]any{"Name": in.SecretId, "SecretString": v, "ARN": "arn:aws:secretsmanager:eu-central-1:123456789012:secret:" + in.SecretId})
}

func (f *fakeAWS) parameter(w http.ResponseWriter, r *http.Request) {
	var in struct{ Name string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Name == "" {
		f.t.Errorf("GetParameter without Name: %v", err)
	}
	v, ok := f.params[in.Name]
	if !ok {
		f.jsonError(w, 400, "ParameterNotFound", "")
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{"Name": in.Name, "Value": v, "Type": "String"}})
}

func (f *fakeAWS) query(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("query body: %v", err)
	}
	action, version := r.PostForm.Get("Action"), r.PostForm.Get("Version")
	w.Header().Set("Content-Type", "text/xml")
	switch {
	case action == "DescribeStacks" && version == "2010-05-15":
		name := r.PostForm.Get("StackName")
		if name != "CaroPlatform-eu-central-1" {
			w.WriteHeader(400)
			fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id %s does not exist</Message></Error></ErrorResponse>`, name)
			return
		}
		var outs strings.Builder
		for k, v := range f.outputs {
			fmt.Fprintf(&outs, "<member><OutputKey>%s</OutputKey><OutputValue>%s</OutputValue></member>", k, v)
		}
		fmt.Fprintf(w, `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>%s</StackName><StackStatus>UPDATE_COMPLETE</StackStatus><Outputs>%s</Outputs></member></Stacks></DescribeStacksResult></DescribeStacksResponse>`, name, outs.String())
	case action == "AssumeRole" && version == "2011-06-15":
		role := r.PostForm.Get("RoleArn")
		if role == "" || r.PostForm.Get("RoleSessionName") == "" {
			f.t.Errorf("AssumeRole without RoleArn or RoleSessionName: %v", r.PostForm)
		}
		f.assumed = append(f.assumed, role)
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIAPUBLISHER</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>%s/caro</Arn><AssumedRoleId>AROA:caro</AssumedRoleId></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>`, role)
	case action == "GetCallerIdentity" && version == "2011-06-15":
		fmt.Fprint(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:sts::123456789012:assumed-role/OnCall/alice</Arn><UserId>AROA:alice</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`)
	default:
		f.t.Errorf("unexpected query call Action=%q Version=%q", action, version)
		w.WriteHeader(400)
	}
}

func newCloud(t *testing.T, f *fakeAWS) *awscloud.Cloud {
	f.t = t
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &awscloud.Cloud{Endpoint: srv.URL, Load: func(_ context.Context, region string) (aws.Config, error) {
		return aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}, nil
	}}
}

func TestReadsOutputsSecretsParametersAndAccount(t *testing.T) {
	ctx := context.Background()
	c := newCloud(t, &fakeAWS{
		outputs: map[string]string{"BackupBucket": "caro-backups-replica", "UserPoolId": "eu-central-1_abc"},
		secrets: map[string]string{"caro/eu-central-1/mongodb-uri": "mongodb+srv://u:p@standby/"},
		params:  map[string]string{"/caro/eu-central-1/backup-key-arn": "arn:aws:kms:eu-central-1:123456789012:key/mrk-1"},
	})
	outs, err := c.StackOutputs(ctx, "eu-central-1", "CaroPlatform-eu-central-1")
	if err != nil || outs["BackupBucket"] != "caro-backups-replica" || outs["UserPoolId"] != "eu-central-1_abc" {
		t.Errorf("outputs = %v, %v", outs, err)
	}
	if v, err := c.SecretString(ctx, "eu-central-1", "caro/eu-central-1/mongodb-uri"); err != nil || v != "mongodb+srv://u:p@standby/" {
		t.Errorf("secret = %q, %v", v, err)
	}
	if v, err := c.Parameter(ctx, "eu-central-1", "/caro/eu-central-1/backup-key-arn"); err != nil || !strings.HasSuffix(v, "key/mrk-1") {
		t.Errorf("parameter = %q, %v", v, err)
	}
	if v, err := c.Account(ctx); err != nil || v != "123456789012" {
		t.Errorf("account = %q, %v", v, err)
	}
}

func TestMissingThingsAreNotFoundAndRefusalsAreErrors(t *testing.T) {
	ctx := context.Background()
	f := &fakeAWS{}
	c := newCloud(t, f)
	if _, err := c.StackOutputs(ctx, "eu-west-1", "CaroPlatform-eu-west-1"); !errors.Is(err, config.ErrNotFound) {
		t.Errorf("missing stack: err = %v, want ErrNotFound", err)
	}
	if _, err := c.SecretString(ctx, "eu-central-1", "caro/eu-central-1/mongodb-uri"); !errors.Is(err, config.ErrNotFound) {
		t.Errorf("missing secret: err = %v, want ErrNotFound", err)
	}
	if _, err := c.Parameter(ctx, "eu-central-1", "/caro/x"); !errors.Is(err, config.ErrNotFound) {
		t.Errorf("missing parameter: err = %v, want ErrNotFound", err)
	}
	f.denied = true
	_, err := c.SecretString(ctx, "eu-central-1", "caro/eu-central-1/mongodb-uri")
	if err == nil || errors.Is(err, config.ErrNotFound) || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("refused secret: err = %v, want the refusal, not 'not found'", err)
	}
}

func TestARoleIsAssumedForEveryCallWhenNamed(t *testing.T) {
	// GIVEN the pipeline's credentials and the file-publishing role to act as
	f := &fakeAWS{outputs: map[string]string{"Release": "1.4.2"}}
	c := newCloud(t, f)
	role := "arn:aws:iam::123456789012:role/cdk-hnb659fds-file-publishing-role-123456789012-eu-central-1"
	c.RoleArn = role
	// WHEN a call is made
	if _, err := c.StackOutputs(context.Background(), "eu-central-1", "CaroPlatform-eu-central-1"); err != nil {
		t.Fatal(err)
	}
	// THEN the role is assumed with the pipeline's credentials first, and the call is signed as the role
	if strings.Join(f.assumed, ",") != role || strings.Join(f.callers, ",") != "AKID,ASIAPUBLISHER" {
		t.Errorf("assumed %v, callers %v; want the role assumed by AKID, then the call as ASIAPUBLISHER", f.assumed, f.callers)
	}
}
