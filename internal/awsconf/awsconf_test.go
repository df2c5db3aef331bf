package awsconf

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

func TestNoOtherConfigurationLoads(t *testing.T) {
	// Every client is built on Load's configuration: no other code of the
	// module (tests aside) loads one of its own.
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	self, _ := filepath.Abs(".")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != root && (strings.HasPrefix(n, ".") || n == "node_modules" || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || filepath.Dir(p) == self {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(data), "LoadDefaultConfig(") {
			rel, _ := filepath.Rel(root, p)
			t.Errorf("%s loads an AWS configuration of its own: use awsconf.Load", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
