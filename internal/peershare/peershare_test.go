package peershare

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

const (
	backupKey  = "arn:aws:kms:eu-west-1:123456789012:key/mrk-1111"
	replica    = "arn:aws:kms:eu-central-1:123456789012:key/mrk-1111"
	signingKey = "arn:aws:kms:eu-west-1:123456789012:key/abcd-sign"
)

var der = []byte{0x30, 0x59, 0x30, 0x13}

// awsFake answers KMS and SSM (JSON 1.1 protocol, X-Amz-Target) per region: which replicas
// exist, and the parameters written.
type awsFake struct {
	mu         sync.Mutex
	replicas   map[string]bool
	parameters map[string]string // region|name -> value
	calls      []string
	bodies     map[string]map[string]any
}

func (f *awsFake) server(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		_, scope, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
		parts := strings.Split(scope, "/")
		if len(parts) < 4 || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
			t.Errorf("request %s %s %v", r.Method, target, r.Header)
		}
		region, service := parts[2], parts[3]
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, target+"@"+region)
		f.bodies[target] = in
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch {
		case service == "kms" && target == "TrentService.DescribeKey":
			if !f.replicas[in["KeyId"].(string)] {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"__type":"NotFoundException","message":"Key does not exist"}`)
				return
			}
			fmt.Fprintf(w, `{"KeyMetadata":{"KeyId":"mrk-1111","Arn":%q}}`, in["KeyId"])
		case service == "kms" && target == "TrentService.ReplicateKey":
			if in["KeyId"] != backupKey || region != "eu-west-1" {
				t.Errorf("ReplicateKey %v in %s: the primary key is replicated from its own region", in, region)
			}
			f.replicas[replica] = true
			fmt.Fprintf(w, `{"ReplicaKeyMetadata":{"KeyId":"mrk-1111","Arn":%q}}`, replica)
		case service == "kms" && target == "TrentService.GetPublicKey":
			fmt.Fprintf(w, `{"KeyId":%q,"PublicKey":%q,"KeySpec":"ECC_NIST_P256","KeyUsage":"SIGN_VERIFY"}`, in["KeyId"], base64.StdEncoding.EncodeToString(der))
		case service == "ssm" && target == "AmazonSSM.PutParameter":
			if in["Type"] != "String" || in["Overwrite"] != true {
				t.Errorf("PutParameter %v", in)
			}
			f.parameters[region+"|"+in["Name"].(string)] = in["Value"].(string)
			fmt.Fprint(w, `{"Version":1,"Tier":"Standard"}`)
		default:
			t.Errorf("unexpected %s (%s) in %s", target, service, region)
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func handler(t *testing.T, f *awsFake) *Handler {
	srv := f.server(t)
	cfg := func(region string) aws.Config {
		return aws.Config{Region: region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}
	}
	return &Handler{
		KMS: func(region string) KMS { return kms.NewFromConfig(cfg(region)) },
		SSM: func(region string) SSM { return ssm.NewFromConfig(cfg(region)) },
	}
}

func event(request cfn.RequestType) cfn.Event {
	return cfn.Event{RequestType: request, ResourceType: ResourceType, ResourceProperties: map[string]interface{}{
		PropRegion: "eu-west-1", PropPeerRegion: "eu-central-1", PropBackupKeyArn: backupKey, PropSigningKeyArn: signingKey,
		PropKeyPolicy: `{"Version":"2012-10-17","Statement":[]}`, PropTagKey: "caro:backup-key", PropTagValue: "platform",
	}}
}

func newFake() *awsFake {
	return &awsFake{replicas: map[string]bool{}, parameters: map[string]string{}, bodies: map[string]map[string]any{}}
}

func TestTheFirstDeployReplicatesTheBackupKeyAndWritesThePeersParameters(t *testing.T) {
	// GIVEN a peer region that holds nothing of this region yet
	f := newFake()
	// WHEN the stack creates the share
	id, data, err := handler(t, f).Handle(context.Background(), event(cfn.RequestCreate))
	if err != nil {
		t.Fatal(err)
	}
	// THEN the backup key is replicated into the peer, tagged, with the given policy
	if id != "eu-west-1->eu-central-1" || data["BackupKeyReplicaArn"] != replica || !f.replicas[replica] {
		t.Errorf("id %s, data %v, replicas %v", id, data, f.replicas)
	}
	rk := f.bodies["TrentService.ReplicateKey"]
	if rk["ReplicaRegion"] != "eu-central-1" || rk["Policy"] == nil || !strings.Contains(fmt.Sprint(rk["Tags"]), "caro:backup-key") {
		t.Errorf("ReplicateKey %v", rk)
	}
	// AND the peer region has the replica's ARN and the ledger key, as pinnedkeys reads it
	if got := f.parameters["eu-central-1|/caro/peers/eu-west-1/backup-key-arn"]; got != replica {
		t.Errorf("backup-key-arn %q", got)
	}
	if got, want := f.parameters["eu-central-1|/caro/peers/eu-west-1/ledger-public-keys"], signingKey+"="+base64.StdEncoding.EncodeToString(der); got != want {
		t.Errorf("ledger-public-keys %q, want %q", got, want)
	}
}

func TestAnExistingReplicaIsKept(t *testing.T) {
	// GIVEN the replica exists (an earlier deploy, or the peer's context override)
	f := newFake()
	f.replicas[replica] = true
	// WHEN the stack is updated THEN nothing is replicated again, the parameters are written
	if _, _, err := handler(t, f).Handle(context.Background(), event(cfn.RequestUpdate)); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.calls {
		if strings.HasPrefix(c, "TrentService.ReplicateKey") {
			t.Errorf("replicated again: %v", f.calls)
		}
	}
	if len(f.parameters) != 2 {
		t.Errorf("parameters %v", f.parameters)
	}
}

func TestTheOverrideLeavesTheReplicaToThePeer(t *testing.T) {
	f := newFake()
	e := event(cfn.RequestCreate)
	e.ResourceProperties[PropReplicateBackupKey] = "false"
	if _, _, err := handler(t, f).Handle(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(f.calls, ","), "TrentService.DescribeKey") || len(f.parameters) != 2 {
		t.Errorf("calls %v, parameters %v", f.calls, f.parameters)
	}
}

func TestDeleteRemovesNothing(t *testing.T) {
	f := newFake()
	if _, _, err := handler(t, f).Handle(context.Background(), event(cfn.RequestDelete)); err != nil || len(f.calls) != 0 {
		t.Errorf("err %v, calls %v", err, f.calls)
	}
}

func TestBadEventsAreRefusedClearly(t *testing.T) {
	f := newFake()
	h := handler(t, f)
	single := event(cfn.RequestCreate)
	single.ResourceProperties[PropBackupKeyArn] = "arn:aws:kms:eu-west-1:123456789012:key/1234"
	missing := event(cfn.RequestCreate)
	delete(missing.ResourceProperties, PropSigningKeyArn)
	for name, c := range map[string]struct {
		e    cfn.Event
		want string
	}{
		"a single-Region key": {single, "not a multi-Region key"},
		"a missing property":  {missing, "SigningKeyArn"},
		"another type":        {cfn.Event{RequestType: cfn.RequestCreate, ResourceType: "Custom::Other"}, "unknown resource type"},
	} {
		if _, _, err := h.Handle(context.Background(), c.e); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", name, err, c.want)
		}
	}
	if len(f.calls) != 0 {
		t.Errorf("calls %v", f.calls)
	}
}
