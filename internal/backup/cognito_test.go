package backup

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"github.com/carohealth/platform/internal/localstack"
)

// cognitoFake answers ListUsers (AWS JSON 1.1, X-Amz-Target) in two pages, checking the request
// shape; Cognito has no local server.
func cognitoFake(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			UserPoolId      string
			Limit           int
			PaginationToken string
		}
		if r.Header.Get("X-Amz-Target") != "AWSCognitoIdentityProviderService.ListUsers" || json.NewDecoder(r.Body).Decode(&in) != nil || in.UserPoolId != "eu-west-1_pool" {
			t.Errorf("unexpected Cognito request %s", r.Header.Get("X-Amz-Target"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		attr := func(n, v string) map[string]string { return map[string]string{"Name": n, "Value": v} }
		if in.PaginationToken == "" {
			json.NewEncoder(w).Encode(map[string]any{"PaginationToken": "p2", "Users": []any{
				map[string]any{"Username": "u1", "Attributes": []any{attr("sub", "sub-1"), attr("phone_number", "+31600000001"), attr("custom:tenant_id", "t1"), attr("custom:roles", "clinician,admin")}},
			}})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"Users": []any{
			map[string]any{"Username": "u2", "Attributes": []any{attr("sub", "sub-new"), attr("custom:legacy_sub", "sub-orig"), attr("phone_number", "+31600000002"), attr("custom:tenant_id", "t2"), attr("custom:roles", "patient")}},
		}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBackupJobWritesIdentityExport(t *testing.T) {
	// GIVEN a user pool with two users (one already re-created by an earlier failover)
	srv := cognitoFake(t)
	client := cip.NewFromConfig(localstack.AWSConfig(testRegion, srv.URL))
	src := newDB("idjob")
	seed(t, src, 4)
	cfg := JobConfig{Region: testRegion, Database: src, KeyID: keyARN, MongoURI: ferret.URI(), UserPoolID: "eu-west-1_pool"}
	deps := JobDeps{Store: newBucket(t), KMS: NewAWSKMS(kmsClient), Identities: CognitoIdentities(client, cfg.UserPoolID)}
	// WHEN the backup job runs
	res, err := RunJob(context.Background(), cfg, deps, JobEvent{Mode: JobModeBackup})
	if err != nil || res.Identities != 2 {
		t.Fatalf("job = %+v, %v", res, err)
	}
	// THEN the identity export beside the backup holds both users with the subjects the data refers to
	got, err := ReadIdentityExport(context.Background(), IdentityExportOptions{Store: deps.Store, KMS: deps.KMS, AllowedKeys: []string{keyARN}, BackupID: res.BackupID, Region: testRegion})
	if err != nil || len(got) != 2 {
		t.Fatalf("export = %+v, %v", got, err)
	}
	if got[0].OldSubject != "sub-1" || !slices.Equal(got[0].Roles, []string{"clinician", "admin"}) || got[1].OldSubject != "sub-orig" || got[1].TenantID != "t2" {
		t.Errorf("records = %+v", got)
	}
}
