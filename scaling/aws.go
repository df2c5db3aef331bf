package scaling

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// AutoScalingAPI is the part of the Auto Scaling API AWSGroup calls
// (*autoscaling.Client has it).
type AutoScalingAPI interface {
	DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	SetDesiredCapacity(ctx context.Context, in *autoscaling.SetDesiredCapacityInput, optFns ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
}

// CloudWatchAPI is the part of the CloudWatch API AWSGroup calls
// (*cloudwatch.Client has it).
type CloudWatchAPI interface {
	PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

// AWSGroup is the Group of an EC2 Auto Scaling group, its metric in
// CloudWatch.
type AWSGroup struct {
	name string
	as   AutoScalingAPI
	cw   CloudWatchAPI
}

// NewAWSGroup returns the group name, reached with clients made from cfg
// (the process's one configuration, internal/awsconf: AWS_REGION,
// credentials, AWS_ENDPOINT_URL_AUTO_SCALING, AWS_ENDPOINT_URL_CLOUDWATCH).
func NewAWSGroup(cfg aws.Config, name string) *AWSGroup {
	return &AWSGroup{name: name, as: autoscaling.NewFromConfig(cfg), cw: cloudwatch.NewFromConfig(cfg)}
}

// Name is the group's name.
func (g *AWSGroup) Name() string { return g.name }

// Capacity describes the group (DescribeAutoScalingGroups).
func (g *AWSGroup) Capacity(ctx context.Context) (Capacity, error) {
	out, err := g.as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{g.name}})
	if err != nil {
		return Capacity{}, err
	}
	if len(out.AutoScalingGroups) == 0 {
		return Capacity{}, ErrNoGroup
	}
	d := out.AutoScalingGroups[0]
	c := Capacity{Desired: int(aws.ToInt32(d.DesiredCapacity)), Min: int(aws.ToInt32(d.MinSize)), Max: int(aws.ToInt32(d.MaxSize))}
	for _, i := range d.Instances {
		if i.LifecycleState == astypes.LifecycleStateInService {
			c.InService++
		}
	}
	return c, nil
}

// SetDesired sets the desired capacity, not honouring the cooldown
// (SetDesiredCapacity).
func (g *AWSGroup) SetDesired(ctx context.Context, n int) error {
	_, err := g.as.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(g.name), DesiredCapacity: aws.Int32(int32(n)), HonorCooldown: aws.Bool(false),
	})
	return err
}

// PutBacklogPerInstance puts v, a count, with the time now (PutMetricData).
func (g *AWSGroup) PutBacklogPerInstance(ctx context.Context, v float64) error {
	_, err := g.cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{
		Namespace: aws.String(MetricNamespace),
		MetricData: []cwtypes.MetricDatum{{
			MetricName: aws.String(MetricBacklog),
			Dimensions: []cwtypes.Dimension{{Name: aws.String(MetricDimension), Value: aws.String(g.name)}},
			Value:      aws.Float64(v),
			Unit:       cwtypes.StandardUnitCount,
			Timestamp:  aws.Time(time.Now()),
		}},
	})
	return err
}
