package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/internal/isolate"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec"
	"github.com/hlsfleet/hlsfleet/ladders"
	"github.com/hlsfleet/hlsfleet/pipeline"
)

const transcodeSynopsis = "transcode [--ladder NAME|FILE] [--segment-seconds S] [--segment-type ts|fmp4] [--accel auto|cpu|nvidia|vaapi|qsv] [--mp4 RUNG] [--quality-gate GAIN] [--json] INPUT OUTPUT"

// envStaging passes the parent's staging directory to the isolated child.
const envStaging = "HLSFLEET_STAGING_DIR"

// envFault makes the isolated child crash on purpose (tests of containment).
const envFault = "HLSFLEET_FAULT_INJECT"

type transcodeFlags struct {
	ladder       string
	segSeconds   float64
	segType      string
	jsonOut      bool
	allAudio     bool
	maxDuration  float64
	maxMemoryMiB int64
	accel        string
	logLevel     string
	noIsolate    bool
	// Extras (issue G).
	mp4           string
	qualityGate   float64
	noQuality     bool
	noStoryboard  bool
	storyInterval float64
}

func runTranscode(args []string) error {
	fs := flag.NewFlagSet("transcode", flag.ContinueOnError)
	var f transcodeFlags
	fs.StringVar(&f.ladder, "ladder", "default", "ladder preset name ("+strings.Join(ladders.Names(), ", ")+") or a JSON/YAML ladder file")
	fs.Float64Var(&f.segSeconds, "segment-seconds", 0, "segment duration in seconds (default: the ladder's)")
	fs.StringVar(&f.segType, "segment-type", "ts", "segment container: ts or fmp4")
	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON summary object on stdout")
	fs.BoolVar(&f.allAudio, "all-audio", false, "keep every audio track (as an EXT-X-MEDIA audio group) instead of the first")
	fs.Float64Var(&f.maxDuration, "max-duration", pipeline.DefaultMaxDuration, "refuse inputs longer than this many seconds")
	fs.Int64Var(&f.maxMemoryMiB, "max-memory", 0, "stop the transcode if it uses more than this many MiB of memory (0 = no limit)")
	fs.StringVar(&f.accel, "accel", "cpu", "accelerator: auto, cpu, nvidia, vaapi or qsv (see hlsfleet probe --accel)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&f.noIsolate, "no-isolate", false, "run libav in this process instead of a child (debugging)")
	fs.StringVar(&f.mp4, "mp4", "", "also write a progressive (faststart) MP4 of this rung, by name (720p) or height (720); default: the ladder's mp4_rendition")
	fs.Float64Var(&f.qualityGate, "quality-gate", 0, "drop a rung whose SSIM is less than this above the next lower rung (e.g. 0.005); default: the ladder's quality_gate")
	fs.BoolVar(&f.noQuality, "no-quality", false, "skip the SSIM/PSNR quality report")
	fs.BoolVar(&f.noStoryboard, "no-storyboard", false, "skip the storyboard sprites and storyboard.vtt")
	fs.Float64Var(&f.storyInterval, "storyboard-interval", 0, "seconds between storyboard thumbnails (default 2; longer inputs get more, at most 600 thumbnails)")
	pos, err := parseCommand(fs, args, transcodeSynopsis, 2)
	if err != nil {
		return err
	}
	if f.segType != string(pipeline.SegmentTS) && f.segType != string(pipeline.SegmentFMP4) {
		return usageErr("--segment-type %q: want ts or fmp4", f.segType)
	}
	if f.segSeconds != 0 {
		if why := job.SegmentSecondsProblem(f.segSeconds); why != "" {
			return usageErr("--segment-seconds %s", why)
		}
	}
	if f.qualityGate < 0 || f.qualityGate >= 1 {
		return usageErr("--quality-gate %g: want a value in (0, 1)", f.qualityGate)
	}
	if f.storyInterval < 0 {
		return usageErr("--storyboard-interval %g: want a positive number of seconds", f.storyInterval)
	}
	inPath, err := location(pos[0])
	if err != nil {
		return err
	}
	outDir, err := location(pos[1])
	if err != nil {
		return err
	}
	ladder, err := ladders.Resolve(f.ladder, f.segSeconds)
	if err != nil {
		return err
	}
	if f.mp4 != "" && !ladder.HasRung(f.mp4) {
		return usageErr("--mp4 %q: ladder %s has no such rendition (want a name such as 720p or a height such as 720)", f.mp4, ladder.Name)
	}
	accel, err := parseAccelFlag(f.accel)
	if err != nil {
		return err
	}
	if isolate.InChild() || f.noIsolate {
		return transcodeHere(f, ladder, accel, inPath, outDir)
	}
	// Resolve the accelerator before any output exists; the child gets the
	// probe and does not repeat it.
	var env []string
	if accel != pipeline.AccelCPU {
		if _, caps, err := jobexec.ResolveAccel(context.Background(), accel); err != nil {
			return err
		} else if caps != nil {
			env = append(env, jobexec.CapsEnv(caps))
		}
	}
	return transcodeIsolated(args, inPath, outDir, f.maxMemoryMiB<<20, env...)
}

// transcodeIsolated runs this same command in a child process and turns a
// crash into one clear line; the staged output of a crashed child is removed.
func transcodeIsolated(args []string, inPath, outDir string, memLimit int64, env ...string) error {
	if !isS3(outDir) {
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return fmt.Errorf("output directory: %w", err)
		}
		staging, err := os.MkdirTemp(outDir, ".hlsfleet-staging-")
		if err != nil {
			return fmt.Errorf("output directory: %w", err)
		}
		defer os.RemoveAll(staging)
		env = append(env, envStaging+"="+staging)
	}
	return runChild(isolate.Options{Args: append([]string{"transcode"}, args...), Env: env, MemoryLimit: memLimit},
		"transcoding "+inPath+" failed, nothing was published")
}

// transcodeHere does the work in this process.
func transcodeHere(f transcodeFlags, ladder *ladders.Ladder, accel pipeline.Accel, inPath, outDir string) error {
	if fault := os.Getenv(envFault); fault == "segv" && isolate.InChild() {
		_ = syscall.Kill(os.Getpid(), syscall.SIGSEGV)
		time.Sleep(time.Second)
	}
	log := newLogger(f.logLevel)
	defer log.Sync() //nolint:errcheck
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(max(runtime.NumCPU(), 16)) // see jobexec.Main
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	staging := ""
	if isolate.InChild() {
		staging = os.Getenv(envStaging)
	}
	prog := jobexec.NewProgressBar(os.Stderr, isTerminal(os.Stderr), log)
	res, err := jobexec.Transcode(ctx, jobexec.TranscodeConfig{
		Input: inPath, Output: outDir, Staging: staging,
		Ladder:      ladder,
		SegmentType: pipeline.SegmentType(f.segType),
		Accel:       accel,
		Caps:        jobexec.CapsFromEnv(),
		Limits:      pipeline.Limits{MaxDuration: f.maxDuration, AllAudioTracks: f.allAudio},
		MP4:         f.mp4,
		Quality:     pipeline.QualityOptions{Disabled: f.noQuality, MinSSIMGain: f.qualityGate},
		Storyboard:  pipeline.StoryboardOptions{Disabled: f.noStoryboard, Interval: f.storyInterval},
		Progress:    prog.Update,
		Logger:      log,
	})
	prog.Finish()
	if err != nil {
		return err
	}
	log.Info("transcode done", zap.String("master", res.Master), zap.Int("renditions", len(res.Renditions)),
		zap.Float64("duration_seconds", res.Duration), zap.Float64("elapsed_seconds", res.Elapsed), zap.Float64("speed", res.Speed))
	if f.jsonOut {
		return printJSON(res)
	}
	fmt.Printf("%s  (%d renditions, %.1f s of media in %.1f s, %.2fx realtime)\n", res.Master, len(res.Renditions)+len(res.Audio), res.Duration, res.Elapsed, res.Speed)
	return nil
}

// location resolves a command-line location: s3:// URLs stay, local paths
// and file:// URLs become local paths.
func location(loc string) (string, error) {
	if isS3(loc) {
		if _, err := job.ParseLocation(loc); err != nil {
			return "", usageErr("%v", err)
		}
		return loc, nil
	}
	return localPath(loc)
}

func isS3(loc string) bool { return strings.HasPrefix(loc, "s3://") }
