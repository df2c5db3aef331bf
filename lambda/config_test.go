package lambda

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/hlsfleet/hlsfleet/job"
)

// TestConfigFromEnv: HLSFLEET_LIVE_QUEUE_URL opens the live queue and
// HLSFLEET_RULES replaces the built-in rules; bad combinations are
// configuration errors.
func TestConfigFromEnv(t *testing.T) {
	dir := t.TempDir()
	cpu, live := "local://"+filepath.Join(dir, "cpu"), "local://"+filepath.Join(dir, "live")
	rules := `[{"bucket":"src","prefix":"streams/","kind":"live-segment","output":"s3://out/live/{stream}/"},` +
		`{"bucket":"src","prefix":"clips/","output":"s3://out/clips/{stem}/"}]`
	base := map[string]string{
		EnvQueueURL: cpu, EnvLiveQueueURL: live, EnvRules: rules, EnvExec: "/bin/true",
		EnvGPUQueueURL: "", EnvDLQURL: "", EnvOutputURL: "", EnvLadder: "", EnvShortClipSeconds: "",
	}
	from := func(t *testing.T, change map[string]string) (Config, error) {
		for k, v := range base {
			t.Setenv(k, v)
		}
		for k, v := range change {
			t.Setenv(k, v)
		}
		c, err := FromEnv(context.Background(), zaptest.NewLogger(t), time.Now())
		for _, q := range []interface{ Close() error }{c.Queue, c.LiveQueue} {
			if q != nil {
				t.Cleanup(func() { q.Close() })
			}
		}
		return c, err
	}

	t.Run("live queue and rules", func(t *testing.T) {
		c, err := from(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.LiveQueue == nil || c.LiveURL != live {
			t.Fatalf("live queue %v %q, want %q opened", c.LiveQueue, c.LiveURL, live)
		}
		ev := `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"streams/cam7/12.ts","size":10,"eTag":"e"}}}]}`
		jobs, err := job.ParseMessage([]byte(ev), c.Rules)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("jobs %v, %v", jobs, err)
		}
		if j := jobs[0]; j.LiveGroup() != "cam7" || j.LiveDedupID() != "cam7.12" || j.Output != "s3://out/live/cam7/" {
			t.Errorf("job group %q dedup %q output %q, want cam7, cam7.12, s3://out/live/cam7/", j.LiveGroup(), j.LiveDedupID(), j.Output)
		}
	})
	t.Run("no live queue", func(t *testing.T) {
		c, err := from(t, map[string]string{EnvLiveQueueURL: "", EnvRules: ""})
		if err != nil {
			t.Fatal(err)
		}
		if c.LiveQueue != nil || c.LiveURL != "" {
			t.Errorf("live queue %q opened, want none", c.LiveURL)
		}
		if len(c.Rules) != len(job.DefaultRules()) {
			t.Errorf("rules %+v, want the built-in ones", c.Rules)
		}
	})
	for name, change := range map[string]map[string]string{
		"live queue is the CPU queue": {EnvLiveQueueURL: cpu},
		"bad live queue URL":          {EnvLiveQueueURL: "ftp://x/y"},
		"rules and output URL":        {EnvOutputURL: "s3://out/hls"},
		"rules and ladder":            {EnvLadder: "default"},
		"bad rules":                   {EnvRules: `[{"prefix":"x/","kind":"nope","output":"s3://o/{stem}/"}]`},
		"rules not JSON":              {EnvRules: `live/`},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := from(t, change); !errors.Is(err, ErrConfig) {
				t.Errorf("err %v, want ErrConfig", err)
			}
		})
	}
}
