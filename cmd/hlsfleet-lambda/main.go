// Command hlsfleet-lambda is the AWS Lambda bootstrap (custom runtime,
// provided.al2023 style, or a container image): S3 upload events, directly
// or in SQS batches, become inline transcodes of short clips or jobs on the
// fleet's queues. See package lambda and README ("Lambda").
//
// It also has a hidden child mode, `hlsfleet-lambda probe-exec URL`, in
// which it probes one source for the handler, so that a libav crash on a
// hostile upload costs that one record, never the invocation. Inline
// transcodes run in `hlsfleet job-exec` children (the hlsfleet binary beside
// this one), the very code path of a fleet worker.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hlsfleet/hlsfleet/lambda"
)

func main() {
	start := time.Now()
	log := newLogger()
	defer log.Sync() //nolint:errcheck
	if len(os.Args) > 1 && os.Args[1] == lambda.ProbeExecArg {
		os.Exit(lambda.ProbeMain(os.Args[2:], os.Stdout, os.Stderr, log))
	}
	if len(os.Args) > 1 {
		fmt.Fprintf(os.Stderr, "hlsfleet: hlsfleet-lambda takes no arguments (it is a Lambda bootstrap; see README, Lambda)\n")
		os.Exit(2)
	}
	cfg, err := lambda.FromEnv(context.Background(), log, start)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hlsfleet: %v\n", err)
		os.Exit(1)
	}
	h, err := lambda.New(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hlsfleet: %v\n", err)
		os.Exit(1)
	}
	log.Info("bootstrap ready", zap.Float64("init_ms", float64(time.Since(start).Microseconds())/1000))
	awslambda.Start(h.Invoke)
}

// newLogger logs JSON lines to stderr (CloudWatch Logs keeps each line as
// one event).
func newLogger() *zap.Logger {
	lvl := zapcore.InfoLevel
	_ = lvl.Set(os.Getenv("HLSFLEET_LOG_LEVEL"))
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(cfg), zapcore.Lock(os.Stderr), lvl))
}
