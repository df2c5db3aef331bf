package isolate

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
)

// envChild makes the test binary, started as a child by Run, print its
// MALLOC_ARENA_MAX and exit.
const envChild = "ISOLATE_TEST_PRINT_ARENAS"

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		fmt.Printf("arenas=%s child=%s\n", os.Getenv("MALLOC_ARENA_MAX"), os.Getenv(EnvChild))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func childArenas(t *testing.T, env ...string) string {
	t.Helper()
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{Exe: os.Args[0], Env: append(env, envChild+"=1"), Stdout: &out})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("child: %+v, %v", res, err)
	}
	return strings.TrimSpace(out.String())
}

// A child gets two malloc arenas unless the caller chose a number.
func TestChildMallocArenas(t *testing.T) {
	if os.Getenv("MALLOC_ARENA_MAX") != "" {
		t.Skip("MALLOC_ARENA_MAX is set in this test's environment; the default cannot be observed")
	}
	if got := childArenas(t); got != "arenas=2 child=1" {
		t.Errorf("child saw %q, want arenas=2 child=1", got)
	}
	if got := childArenas(t, "MALLOC_ARENA_MAX=4"); got != "arenas=4 child=1" {
		t.Errorf("with MALLOC_ARENA_MAX=4 given, child saw %q", got)
	}
}

func TestHasEnv(t *testing.T) {
	env := []string{"A=1", "MALLOC_ARENA_MAX_X=3", "B="}
	if hasEnv(env, "MALLOC_ARENA_MAX") || !hasEnv(env, "B") || !hasEnv(env, "A") {
		t.Errorf("hasEnv on %v is wrong", env)
	}
}
