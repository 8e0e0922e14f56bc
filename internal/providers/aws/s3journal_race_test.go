package aws

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/carohealth/platform/internal/failover"
)

// racedS3 is a bucket where every conditional write loses the race (another writer always took the
// sequence number first); it counts the writes tried.
type racedS3 struct {
	S3API
	mu   sync.Mutex
	puts int
}

func (s *racedS3) ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return &s3.ListObjectsV2Output{}, nil
}

func (s *racedS3) PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	return nil, &smithy.GenericAPIError{Code: "PreconditionFailed", Message: "At least one of the pre-conditions you specified did not hold"}
}

// TestAJournalThatKeepsLosingTheRaceGivesUpAfterFiveTries: a record whose sequence number another
// writer takes every time is tried five times, re-listing between tries, then the append fails
// saying another apply may be running (never an endless loop at 3 a.m.).
func TestAJournalThatKeepsLosingTheRaceGivesUpAfterFiveTries(t *testing.T) {
	s := &racedS3{}
	j := &S3Journal{Client: s, Bucket: "caro-failover-eu-central-1", PlanID: "p1"}
	err := j.Append(context.Background(), failover.Record{Event: failover.ApplyStarted, PlanID: "p1"})
	if err == nil || !strings.Contains(err.Error(), "lost the race for the next record five times: is another apply running?") {
		t.Fatalf("err = %v", err)
	}
	if s.puts != 5 {
		t.Fatalf("%d writes tried, want 5", s.puts)
	}
}

// GetObject answers that the lock is gone again (its holder released it right after our write
// was refused).
func (s *racedS3) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return nil, &smithy.GenericAPIError{Code: "NoSuchKey", Message: "The specified key does not exist."}
}

// TestALockTakenAndReleasedAgainAndAgainGivesUpAfterFiveTries: when every conditional write of the
// lock is refused but the holder is gone by the time it is read, Acquire tries five times, then
// says another apply is starting.
func TestALockTakenAndReleasedAgainAndAgainGivesUpAfterFiveTries(t *testing.T) {
	s := &racedS3{}
	l := &S3Lock{Client: s, Bucket: "caro-failover-eu-central-1"}
	err := l.Acquire(context.Background(), failover.LockInfo{Owner: "alice", PID: 1})
	if err == nil || !strings.Contains(err.Error(), "is taken and released again and again: another apply is starting") {
		t.Fatalf("err = %v", err)
	}
	if s.puts != 5 {
		t.Fatalf("%d writes tried, want 5", s.puts)
	}
}

// TestOnlyAConditionalWriteConflictIsALostRace: S3's 412 PreconditionFailed and 409
// ConditionalRequestConflict mean another writer got there first (try again); any other error, an
// AccessDenied above all, is reported at once.
func TestOnlyAConditionalWriteConflictIsALostRace(t *testing.T) {
	for code, lost := range map[string]bool{"PreconditionFailed": true, "ConditionalRequestConflict": true, "AccessDenied": false, "SlowDown": false} {
		if got := preconditionFailed(&smithy.GenericAPIError{Code: code}); got != lost {
			t.Errorf("%s: lost race %v, want %v", code, got, lost)
		}
	}
	if preconditionFailed(errors.New("connection reset")) {
		t.Error("a network error taken for a lost race")
	}
}
