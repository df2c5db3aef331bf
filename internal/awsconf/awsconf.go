// Package awsconf holds the process's one AWS configuration.
//
// Every AWS client of hlsfleet (S3, SQS, SNS, Auto Scaling, CloudWatch) is
// built from the configuration Load returns, so a process reads the
// environment and shared config files once and shares one credentials cache:
// on EC2 the instance role's credentials are fetched once and refreshed
// before they expire, instead of once per client.
//
// The configuration is config.LoadDefaultConfig's, unchanged: AWS_REGION,
// credentials, shared config files, AWS_ENDPOINT_URL. Service endpoint
// overrides (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_SQS, ...) are read when a
// client is built from it, as the SDK always does.
package awsconf

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

var (
	mu     sync.Mutex
	cfg    aws.Config
	loaded bool
	loads  atomic.Int64
)

// Load returns the process's AWS configuration, loading it on first use. A
// failed load is not remembered: the next call tries again. The context
// bounds only a load this call makes.
func Load(ctx context.Context) (aws.Config, error) {
	mu.Lock()
	defer mu.Unlock()
	if loaded {
		return cfg, nil
	}
	c, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	cfg, loaded = c, true
	loads.Add(1)
	return cfg, nil
}

// Loads is how many times this process has loaded the AWS configuration:
// 0 before the first client, 1 after.
func Loads() int64 { return loads.Load() }
