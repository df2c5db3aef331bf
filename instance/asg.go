package instance

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/hlsfleet/hlsfleet/internal/awsconf"
)

// AutoScaling is the part of the Auto Scaling API the controller calls.
type AutoScaling interface {
	CompleteLifecycleAction(ctx context.Context, in *autoscaling.CompleteLifecycleActionInput, optFns ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error)
	RecordLifecycleActionHeartbeat(ctx context.Context, in *autoscaling.RecordLifecycleActionHeartbeatInput, optFns ...func(*autoscaling.Options)) (*autoscaling.RecordLifecycleActionHeartbeatOutput, error)
	SetInstanceProtection(ctx context.Context, in *autoscaling.SetInstanceProtectionInput, optFns ...func(*autoscaling.Options)) (*autoscaling.SetInstanceProtectionOutput, error)
}

// NewAutoScalingClient returns an Auto Scaling client on the process's AWS
// configuration (awsconf: AWS_REGION, credentials,
// AWS_ENDPOINT_URL_AUTO_SCALING).
func NewAutoScalingClient(ctx context.Context) (*autoscaling.Client, error) {
	cfg, err := awsconf.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("instance: %w", err)
	}
	return autoscaling.NewFromConfig(cfg), nil
}

// Lifecycle action results.
const (
	ResultContinue = "CONTINUE"
	ResultAbandon  = "ABANDON"
)

func completeInput(asg, hook, instanceID, result string) *autoscaling.CompleteLifecycleActionInput {
	return &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName:  aws.String(asg),
		LifecycleHookName:     aws.String(hook),
		InstanceId:            aws.String(instanceID),
		LifecycleActionResult: aws.String(result),
	}
}
