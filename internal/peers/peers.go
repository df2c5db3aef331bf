// Package peers starts the S3 and SQS test peers (scripts/peers/*.sh) for
// the benchmarks, which run from the repository root.
package peers

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Ensure makes sure the SQS and S3 peers run and their variables are set
// (SQS first, then S3, so that S3's credentials win). It returns a function
// that stops the peers it started itself.
func Ensure() (stop func(), err error) {
	var started []string
	stop = func() {
		for _, s := range started {
			if out, err := exec.Command(s, "stop").CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "bench: stopping %s: %v: %s\n", s, err, out)
			}
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	for _, s := range []string{"scripts/peers/sqs.sh", "scripts/peers/s3.sh"} {
		if _, err := os.Stat(s); err != nil {
			return stop, fmt.Errorf("%s not found: run the bench from the repository root: %w", s, err)
		}
		if exec.Command(s, "status").Run() != nil {
			fmt.Fprintf(os.Stderr, "bench: starting %s\n", s)
			cmd := exec.Command(s, "start")
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				return stop, fmt.Errorf("%s start: %w", s, err)
			}
			started = append(started, s)
		}
		out, err := exec.Command(s, "env").Output()
		if err != nil {
			return stop, fmt.Errorf("%s env: %w", s, err)
		}
		if err := SetEnv(string(out)); err != nil {
			return stop, fmt.Errorf("%s env: %w", s, err)
		}
	}
	return stop, nil
}

// SetEnv applies an `export A=1 B=2` line as the peer scripts print it.
func SetEnv(line string) error {
	fields := strings.Fields(strings.TrimSpace(line))
	if len(fields) == 0 || fields[0] != "export" {
		return errors.New("unexpected output " + strconv.Quote(line))
	}
	for _, kv := range fields[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return errors.New("unexpected assignment " + strconv.Quote(kv))
		}
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}
