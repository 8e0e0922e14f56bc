package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/restore"
)

// OutputPrestageStateMachineArn is the platform stack output of the region's pre-stage state
// machine (constructs/backupengine): the failover's cold path runs it for the plan's backup, on the
// engine in AWS rather than on the operator's machine.
const OutputPrestageStateMachineArn = "PrestageStateMachineArn"

// RestoreEngine loads a backup into the target region's database on the restore engine, staged
// and verified (the failover then activates it).
type RestoreEngine interface {
	Load(ctx context.Context, backupID string, progress failover.Progress) error
}

// SFNAPI is the part of the Step Functions client the engine uses.
type SFNAPI interface {
	StartExecution(context.Context, *sfn.StartExecutionInput, ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	DescribeExecution(context.Context, *sfn.DescribeExecutionInput, ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
}

// StateMachineEngine runs the target region's pre-stage state machine for a backup and waits for
// it: a Distributed Map of Lambda workers loads the parts in parallel (internal/backupengine).
type StateMachineEngine struct {
	Client          SFNAPI
	StateMachineArn string
	// Name names the execution (default: the failover plan and backup); a resumed step finds the
	// execution its interrupted run started instead of starting another.
	Name string
	Poll time.Duration
}

// Load implements RestoreEngine.
func (e *StateMachineEngine) Load(ctx context.Context, backupID string, progress failover.Progress) error {
	if e.Client == nil || e.StateMachineArn == "" {
		return fmt.Errorf("the restore engine is not deployed in the target region (stack output %s): deploy the platform stack", OutputPrestageStateMachineArn)
	}
	input, _ := json.Marshal(map[string]string{"key": backup.ManifestKey(backupID)})
	name := e.Name
	if name == "" {
		name = "failover-" + backupID
	}
	out, err := e.Client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(e.StateMachineArn), Name: aws.String(name), Input: aws.String(string(input))})
	var arn string
	switch {
	case err == nil:
		arn = aws.ToString(out.ExecutionArn)
	case isAlreadyExists(err):
		// Started by an interrupted run of this step: follow it.
		arn = executionArn(e.StateMachineArn, name)
	default:
		return fmt.Errorf("starting the restore engine (%s) for backup %s: %w", e.StateMachineArn, backupID, err)
	}
	progress("the restore engine loads backup %s in the target region (execution %s)", backupID, arn)
	poll := e.pollInterval()
	start := time.Now()
	for {
		d, err := e.Client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			return fmt.Errorf("following the restore engine's execution %s: %w", arn, err)
		}
		switch d.Status {
		case sfntypes.ExecutionStatusSucceeded:
			progress("the restore engine staged backup %s in %s", backupID, time.Since(start).Round(time.Second))
			return nil
		case sfntypes.ExecutionStatusRunning, sfntypes.ExecutionStatusPendingRedrive:
		default:
			return fmt.Errorf("the restore engine's execution %s ended %s: %s: %s (see the Prestage state machine and prestage/latest.json; run the step again)",
				arn, d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// pollInterval is how often Load asks for the execution's status: Poll, or every 10 s.
func (e *StateMachineEngine) pollInterval() time.Duration {
	if e.Poll > 0 {
		return e.Poll
	}
	return 10 * time.Second
}

func isAlreadyExists(err error) bool {
	var ae *sfntypes.ExecutionAlreadyExists
	return errors.As(err, &ae)
}

// executionArn is the ARN of execution name of a state machine.
func executionArn(stateMachine, name string) string {
	// arn:aws:states:<region>:<account>:stateMachine:<sm> -> ...:execution:<sm>:<name>
	const marker = ":stateMachine:"
	for i := 0; i+len(marker) <= len(stateMachine); i++ {
		if stateMachine[i:i+len(marker)] == marker {
			return stateMachine[:i] + ":execution:" + stateMachine[i+len(marker):] + ":" + name
		}
	}
	return stateMachine + ":" + name
}

// coldOnEngine is the failover's cold path on the engine: the target is compared with the plan's
// listing first (the load replaces it), the engine stages the backup, the step activates it. A
// target the engine does not stage into (a database that serves traffic, such as a failback's) is
// restored from this process as before, and the summary says so.
func coldOnEngine(s *RestoreSettings, o restore.Options, src restore.BackupSource, planID string, progress failover.Progress) func(context.Context) (*restore.Report, error) {
	return func(ctx context.Context) (*restore.Report, error) {
		if o.Expect != nil && !o.AcceptChanges {
			now, err := restore.Take(ctx, o.Target.Database(s.database()))
			if err != nil {
				return nil, err
			}
			if changes := o.Expect.Changes(now); len(changes) > 0 {
				return nil, fmt.Errorf("%w: %s: %v (the restore would move this data aside: check who wrote it; to go ahead anyway, run the same command again with --yes; or plan again)",
					restore.ErrTargetChanged, s.database(), changes)
			}
		}
		if err := s.Engine.Load(ctx, src.BackupID, progress); err != nil {
			return nil, err
		}
		staged := o
		staged.Expect = nil // the engine replaced what the plan listed, as planned
		rep, err := restore.Activate(ctx, staged, src.BackupID)
		if errors.Is(err, restore.ErrNotStaged) {
			progress("the engine did not stage %s into this database (%v): restoring it from this process", src.BackupID, err)
			return restore.Backup(ctx, o, src)
		}
		return rep, err
	}
}
