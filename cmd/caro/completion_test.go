package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/backup"
)

func TestCompletionOfABackupIDOffersTheReadableBackupsNewestFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("starts FerretDB, local-kms and S3")
	}
	env := newBackupEnv(t)
	ctx := context.Background()
	// GIVEN two backups in the region's bucket and a third whose manifest is unreadable
	if _, err := env.client.Database("caro").Collection("patients").InsertOne(ctx, bson.D{{Key: "n", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		code, out, errOut := runCaro("backup", "create", "--mongodb-uri", env.mongoURI, "-o", "json")
		var m struct {
			BackupID string `json:"backupId"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &m) != nil {
			t.Fatalf("backup create: exit %d %q %s", code, out, errOut)
		}
		ids = append(ids, m.BackupID)
	}
	if _, err := env.s3.Client("eu-west-1").PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("caro-backups"),
		Key: aws.String(backup.ManifestKey("20000101T000000Z-0badf00d")), Body: strings.NewReader("{not json")}); err != nil {
		t.Fatal(err)
	}
	if _, out, _ := runCaro("backup", "list"); !strings.Contains(out, "20000101T000000Z-0badf00d") {
		t.Fatalf("backup list does not show the unreadable backup, so the test proves nothing:\n%s", out)
	}

	for _, verb := range []string{"restore", "verify"} {
		// WHEN the shell completes `caro backup <verb> <TAB>`
		code, out, errOut := runCaro("__complete", "backup", verb, "")
		// THEN it offers the readable backups, newest first with their age, in that order and no
		// file names (ShellCompDirectiveNoFileComp|KeepOrder); the unreadable one is left out
		want := regexp.MustCompile(fmt.Sprintf(`^%s\t\d+s old\n%s\t\d+s old\n:36\n$`, ids[1], ids[0]))
		if code != 0 || !want.MatchString(out) {
			t.Errorf("completion of backup %s's <backup-id>: exit %d\n%q\nwant\n%s\nstderr: %s", verb, code, out, want, errOut)
		}
	}

	// WHEN the operator already typed another bucket THEN the completion lists that bucket's
	// backups (here: it does not exist, so the shell is told the completion failed)
	code, out, _ := runCaro("__complete", "backup", "restore", "--bucket", "no-such-bucket", "")
	if code != 0 || out != ":1\n" {
		t.Errorf("completion with --bucket no-such-bucket: exit %d %q, want directive 1 (error)", code, out)
	}
	// AND the completion offers nothing after the first argument
	if _, out, _ = runCaro("__complete", "backup", "restore", ids[0], ""); out != ":4\n" {
		t.Errorf("completion of a second argument = %q, want nothing (directive 4)", out)
	}
}
