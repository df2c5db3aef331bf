package main

import (
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	r := Report{Seconds: 10, Cold: 30, ColdStartMs: 420, Warm: []float64{24, 20, 22}, Bare: []float64{18, 16, 20, 40}}
	if got := median(r.Bare); got != 19 {
		t.Errorf("median of an even count: %v, want 19", got)
	}
	if got := r.Ratio(); got != 22.0/19 {
		t.Errorf("ratio %v, want %v", got, 22.0/19)
	}
	text := strings.Join(r.Lines(), "\n")
	for _, want := range []string{"ratio warm / bare  1.16", "PASS", "420 ms"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	r.Warm = []float64{40}
	if !strings.Contains(strings.Join(r.Lines(), "\n"), "MISS") {
		t.Error("a ratio over 1.5 is not a MISS")
	}
	if (Report{}).Ratio() != 0 || !strings.Contains(strings.Join(Report{}.Lines(), "\n"), "MISS") {
		t.Error("an empty report passes")
	}
	if v, ok := firstByteMillis(`{"level":"info","msg":"first input byte read","source":"s3://b/k","since_process_start_ms":512.25}`); !ok || v != 512.25 {
		t.Error("cold start not parsed from the log line")
	}
}
