package awsconf

import (
	"context"
	"testing"
)

func TestLoadOncePerProcess(t *testing.T) {
	ctx := context.Background()
	// A load that fails is not remembered.
	t.Setenv("AWS_S3_USE_ARN_REGION", "maybe")
	if _, err := Load(ctx); err == nil {
		t.Fatal("Load with AWS_S3_USE_ARN_REGION=maybe succeeded")
	}
	if n := Loads(); n != 0 {
		t.Fatalf("Loads() = %d after a failed load, want 0", n)
	}
	t.Setenv("AWS_S3_USE_ARN_REGION", "")
	t.Setenv("AWS_REGION", "eu-west-3")
	first, err := Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_REGION", "ap-south-1")
	for range 3 {
		c, err := Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Region != first.Region || c.Credentials != first.Credentials {
			t.Fatalf("Load returned region %q, credentials %p; want the first load's %q, %p", c.Region, c.Credentials, first.Region, first.Credentials)
		}
	}
	if first.Region != "eu-west-3" {
		t.Errorf("region %q, want AWS_REGION's eu-west-3", first.Region)
	}
	if n := Loads(); n != 1 {
		t.Errorf("Loads() = %d, want 1", n)
	}
}
