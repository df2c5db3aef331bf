package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Targets hlsfleet must meet against the ffmpeg CLI baseline.
const (
	targetWallRatio = 0.90 // hlsfleet wall time / CLI wall time
	targetRSSRatio  = 1.00 // hlsfleet peak RSS / CLI peak RSS
)

// Measurement is what one run of one tool cost.
type Measurement struct {
	Wall        time.Duration
	CPU         time.Duration // user + system, the child and its waited-for descendants
	MaxRSSBytes int64         // peak resident set of the largest of those processes
	OutputBytes int64         // size of everything written under the output folder
}

// cpuPercent is the CPU utilisation of the whole machine during the run:
// CPU time / wall time / cpus, in percent.
func (m Measurement) cpuPercent(cpus int) float64 {
	if m.Wall <= 0 || cpus <= 0 {
		return 0
	}
	return 100 * m.CPU.Seconds() / m.Wall.Seconds() / float64(cpus)
}

// median returns the median of xs (the mean of the middle two for an even
// count), or 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid]
	}
	return (s[mid-1] + s[mid]) / 2
}

// Summary holds the medians of each tool's runs.
type Summary struct {
	Runs                   int
	CPUs                   int
	CLIWall, FleetWall     float64 // seconds
	CLICPU, FleetCPU       float64 // seconds
	CLIRSS, FleetRSS       float64 // bytes
	CLIOutput, FleetOutput float64 // bytes
}

// summarize takes the medians of each figure over the runs.
func summarize(cli, fleet []Measurement, cpus int) Summary {
	pick := func(ms []Measurement, f func(Measurement) float64) float64 {
		xs := make([]float64, len(ms))
		for i, m := range ms {
			xs[i] = f(m)
		}
		return median(xs)
	}
	wall := func(m Measurement) float64 { return m.Wall.Seconds() }
	cpu := func(m Measurement) float64 { return m.CPU.Seconds() }
	rss := func(m Measurement) float64 { return float64(m.MaxRSSBytes) }
	out := func(m Measurement) float64 { return float64(m.OutputBytes) }
	return Summary{
		Runs: len(cli), CPUs: cpus,
		CLIWall: pick(cli, wall), FleetWall: pick(fleet, wall),
		CLICPU: pick(cli, cpu), FleetCPU: pick(fleet, cpu),
		CLIRSS: pick(cli, rss), FleetRSS: pick(fleet, rss),
		CLIOutput: pick(cli, out), FleetOutput: pick(fleet, out),
	}
}

// ratio returns a/b, or NaN when b is zero.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// WallRatio is hlsfleet's median wall time over the CLI's.
func (s Summary) WallRatio() float64 { return ratio(s.FleetWall, s.CLIWall) }

// RSSRatio is hlsfleet's median peak RSS over the CLI's.
func (s Summary) RSSRatio() float64 { return ratio(s.FleetRSS, s.CLIRSS) }

// utilisation is CPU seconds / wall seconds / cpus in percent.
func (s Summary) utilisation(cpu, wall float64) float64 {
	return 100 * ratio(ratio(cpu, wall), float64(s.CPUs))
}

// verdict says whether ratio r meets target (r <= target).
func verdict(r, target float64) string {
	if r <= target { // false for NaN
		return "PASS"
	}
	return "MISS"
}

// Lines renders the summary as the benchmark's final report.
func (s Summary) Lines() []string {
	mb := func(b float64) float64 { return b / 1e6 }
	return []string{
		fmt.Sprintf("medians of %d run(s) each on %d CPU(s):", s.Runs, s.CPUs),
		fmt.Sprintf("  wall time   ffmpeg CLI %7.2f s   hlsfleet %7.2f s   ratio %.3f (target <= %.2f)  %s",
			s.CLIWall, s.FleetWall, s.WallRatio(), targetWallRatio, verdict(s.WallRatio(), targetWallRatio)),
		fmt.Sprintf("  CPU time    ffmpeg CLI %7.2f s   hlsfleet %7.2f s", s.CLICPU, s.FleetCPU),
		fmt.Sprintf("  CPU use     ffmpeg CLI %7.1f %%   hlsfleet %7.1f %%   (cpu time / wall / %d CPUs)",
			s.utilisation(s.CLICPU, s.CLIWall), s.utilisation(s.FleetCPU, s.FleetWall), s.CPUs),
		fmt.Sprintf("  peak RSS    ffmpeg CLI %7.1f MB  hlsfleet %7.1f MB  ratio %.3f (target <= %.2f)  %s",
			mb(s.CLIRSS), mb(s.FleetRSS), s.RSSRatio(), targetRSSRatio, verdict(s.RSSRatio(), targetRSSRatio)),
		fmt.Sprintf("  output size ffmpeg CLI %7.1f MB  hlsfleet %7.1f MB", mb(s.CLIOutput), mb(s.FleetOutput)),
	}
}

// extrasLine reports what the default extras (storyboard, quality report)
// add to a transcode: medians of wall and CPU time with and without them.
func extrasLine(plain, extras []Measurement) string {
	wall := func(ms []Measurement) float64 {
		xs := make([]float64, len(ms))
		for i, m := range ms {
			xs[i] = m.Wall.Seconds()
		}
		return median(xs)
	}
	cpu := func(ms []Measurement) float64 {
		xs := make([]float64, len(ms))
		for i, m := range ms {
			xs[i] = m.CPU.Seconds()
		}
		return median(xs)
	}
	pw, xw, pc, xc := wall(plain), wall(extras), cpu(plain), cpu(extras)
	if pw <= 0 || pc <= 0 {
		return "  extras      not measured"
	}
	return fmt.Sprintf("  extras      storyboard + quality report add %.1f%% wall (%.2f s -> %.2f s), %.1f%% CPU (not part of the target)",
		100*(xw/pw-1), pw, xw, 100*(xc/pc-1))
}
