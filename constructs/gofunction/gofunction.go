// Package gofunction is the platform's one way to deploy a Go Lambda handler: a folder of lambdas/
// built for linux/arm64 on provided.al2023 with the local Go toolchain during synth, traced with
// X-Ray, logging to a KMS-encrypted log group, with reserved concurrency, a dead-letter queue and an
// on-failure destination, error and throttle alarms, and its own least-privilege role.
package gofunction

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdklambdagoalpha/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/nagcheck"
	"github.com/carohealth/platform/internal/config"
)

// Props configures a Go function.
type Props struct {
	// Folder is the handler's folder under lambdas/, for example "health".
	Folder string
	// Description says what the function does.
	Description string
	// Environment is passed to the handler.
	Environment map[string]string
	// MemoryMiB defaults to 256 (arm64 Go handlers are small).
	MemoryMiB float64
	// Timeout defaults to 10 seconds.
	Timeout awscdk.Duration
	// ReservedConcurrency caps the function so one runaway handler cannot starve the others; default 5.
	ReservedConcurrency float64
	// Key encrypts the log group, the dead-letter queue and the environment.
	Key awskms.IKey
	// AlarmTopic receives the error and throttle alarms.
	AlarmTopic awssns.ITopic
	// LogRetention defaults to one year; function logs carry no personal data.
	LogRetention awslogs.RetentionDays
	// Secrets the handler reads at start-up. They are read through the AWS Parameters and Secrets
	// Lambda Extension (added as a layer when this is not empty), so no secret sits in the environment.
	Secrets []awssecretsmanager.ISecret
}

// Function is a deployed Go handler and what comes with it.
type Function struct {
	// Lambda is the function.
	Lambda awslambda.Function
	// Role is the function's own execution role; grant it exactly what the handler needs.
	Role awsiam.Role
	// DeadLetters receives failed asynchronous invocations (DLQ and on-failure destination).
	DeadLetters awssqs.Queue
	// LogGroup holds the function's logs.
	LogGroup awslogs.LogGroup
	// ErrorAlarm and ThrottleAlarm notify on-call.
	ErrorAlarm, ThrottleAlarm awscloudwatch.Alarm
}

// buildFlags are the go build flags of every handler: no RPC server (provided.al2023 needs none),
// stripped, reproducible paths.
var buildFlags = []string{"-tags lambda.norpc", `-ldflags "-s -w"`, "-trimpath"}

// assetHash identifies a handler's bundle by everything that goes into it: the Go toolchain, the
// build flags, the handler's folder and every non-test Go source of the module with go.mod and
// go.sum. It is deliberately coarse (any Go change rebuilds every handler) so it can never be stale.
func assetHash(root, folder string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", goVersion(), strings.Join(buildFlags, " "), folder)
	h.Write(moduleSourceHash(root))
	return hex.EncodeToString(h.Sum(nil))
}

// goVersion is the version of the go command that bundles (the one on PATH, as GoFunction uses).
var goVersion = sync.OnceValue(func() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		panic(fmt.Sprintf("gofunction: go env GOVERSION: %v: bundling needs the Go toolchain on PATH", err))
	}
	return strings.TrimSpace(string(out))
})

// moduleSourceHashes caches the source hash per module root for the life of the synth.
var moduleSourceHashes sync.Map

func moduleSourceHash(root string) []byte {
	if v, ok := moduleSourceHashes.Load(root); ok {
		return v.([]byte)
	}
	h := sha256.New()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata" || name == "cdk.out") {
				return filepath.SkipDir
			}
			return nil
		}
		if !(strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) && name != "go.mod" && name != "go.sum" {
			return nil
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(content))
		h.Write(content)
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("gofunction: hashing the Go sources under %s: %v", root, err))
	}
	sum := h.Sum(nil)
	moduleSourceHashes.Store(root, sum)
	return sum
}

// RepoRoot finds the module root (the folder holding go.mod) from the working directory, so the CDK
// app and construct tests locate lambdas/ wherever they run from. CARO_REPO_ROOT overrides it.
func RepoRoot() string {
	if root, ok := config.LookupEnv("CARO_REPO_ROOT"); ok {
		return root
	}
	dir, err := os.Getwd()
	if err != nil {
		panic(fmt.Sprintf("gofunction: cannot read the working directory: %v", err))
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			panic(fmt.Sprintf("gofunction: no go.mod above %s: run the CDK app from the repository", dir))
		}
	}
}

// New creates the function.
func New(scope constructs.Construct, id string, props *Props) *Function {
	c := constructs.NewConstruct(scope, jsii.String(id))
	root := RepoRoot()
	entry := filepath.Join(root, "lambdas", props.Folder)
	if _, err := os.Stat(filepath.Join(entry, "main.go")); err != nil {
		panic(fmt.Sprintf("gofunction %s: lambdas/%s/main.go not found: %v", id, props.Folder, err))
	}
	memory := props.MemoryMiB
	if memory == 0 {
		memory = 256
	}
	timeout := props.Timeout
	if timeout == nil {
		timeout = awscdk.Duration_Seconds(jsii.Number(10))
	}
	concurrency := props.ReservedConcurrency
	if concurrency == 0 {
		concurrency = 5
	}
	retention := props.LogRetention
	if retention == "" {
		retention = awslogs.RetentionDays_ONE_YEAR
	}

	logGroup := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		EncryptionKey: props.Key,
		Retention:     retention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	deadLetters := awssqs.NewQueue(c, jsii.String("DeadLetters"), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_KMS,
		EncryptionMasterKey: props.Key,
		EnforceSSL:          jsii.Bool(true),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(14)),
	})
	nagcheck.Suppress(deadLetters, "AwsSolutions-SQS3",
		"This queue is itself the dead-letter queue of the function; its depth is alarmed and the traffic watcher reports every message.")

	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String(fmt.Sprintf("Execution role of the %s handler (least privilege)", props.Folder)),
	})
	logGroup.GrantWrite(role)
	for _, secret := range props.Secrets {
		secret.GrantRead(role, nil)
	}

	env := map[string]*string{}
	for k, v := range props.Environment {
		env[k] = jsii.String(v)
	}
	var extension awslambda.ParamsAndSecretsLayerVersion
	if len(props.Secrets) > 0 {
		extension = awslambda.ParamsAndSecretsLayerVersion_FromVersion(awslambda.ParamsAndSecretsVersions_V1_0_103, &awslambda.ParamsAndSecretsOptions{
			CacheEnabled: jsii.Bool(true),
			LogLevel:     awslambda.ParamsAndSecretsLogLevel_WARN,
		})
	}
	fn := awscdklambdagoalpha.NewGoFunction(c, jsii.String("Function"), &awscdklambdagoalpha.GoFunctionProps{
		Entry:                        jsii.String(entry),
		ModuleDir:                    jsii.String(filepath.Join(root, "go.mod")),
		Runtime:                      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:                 awslambda.Architecture_ARM_64(),
		Description:                  jsii.String(props.Description),
		MemorySize:                   jsii.Number(memory),
		Timeout:                      timeout,
		ReservedConcurrentExecutions: jsii.Number(concurrency),
		Tracing:                      awslambda.Tracing_ACTIVE,
		LogGroup:                     logGroup,
		LoggingFormat:                awslambda.LoggingFormat_JSON,
		Role:                         role,
		Environment:                  &env,
		EnvironmentEncryption:        props.Key,
		DeadLetterQueue:              deadLetters,
		OnFailure:                    awslambdadestinations.NewSqsDestination(deadLetters),
		RetryAttempts:                jsii.Number(2),
		ParamsAndSecrets:             extension,
		Bundling: &awscdklambdagoalpha.BundlingOptions{
			GoBuildFlags: jsii.Strings(buildFlags...),
			CgoEnabled:   jsii.Bool(false),
			// A hash of the sources, not of the build output: CDK then reuses a bundle already in
			// cdk.out instead of rebuilding every handler on every synth.
			AssetHashType: awscdk.AssetHashType_CUSTOM,
			AssetHash:     jsii.String(assetHash(root, props.Folder)),
		},
	})
	// The build flags above are constants of this construct, never input.
	awscdk.Annotations_Of(c).AcknowledgeWarning(jsii.String("@aws-cdk/aws-lambda-go-alpha:goBuildFlagsSecurityWarning"),
		jsii.String("goBuildFlags are fixed constants in constructs/gofunction"))
	// X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level permissions.
	nagcheck.SuppressWithChildren(role, "AwsSolutions-IAM5",
		"Resource::* only for xray:PutTraceSegments/PutTelemetryRecords (no resource-level permissions exist) and KMS grants scoped by key ARN.")
	nagcheck.SuppressWithChildren(role, "HIPAA.Security-IAMNoInlinePolicy",
		"One role per function; its policy is generated from grants on exact resource ARNs, reviewed in git and deployed only by the pipeline, so CloudFormation history versions it.")
	nagcheck.Suppress(fn, "HIPAA.Security-LambdaInsideVPC",
		"The handler has no inbound network path; it reaches AWS APIs and MongoDB Atlas over TLS 1.2+ with IAM/SCRAM auth and an Atlas IP access list.")

	alarm := func(name string, metric awscloudwatch.Metric, what string) awscloudwatch.Alarm {
		a := awscloudwatch.NewAlarm(c, jsii.String(name), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(fmt.Sprintf("%s: %s", props.Folder, what)),
			Metric:             metric,
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(awscloudwatchactions.NewSnsAction(props.AlarmTopic))
		return a
	}
	period := &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")}
	return &Function{
		Lambda:        fn,
		Role:          role,
		DeadLetters:   deadLetters,
		LogGroup:      logGroup,
		ErrorAlarm:    alarm("Errors", fn.MetricErrors(period), "the handler returned errors"),
		ThrottleAlarm: alarm("Throttles", fn.MetricThrottles(period), "invocations were throttled at the reserved concurrency"),
	}
}
