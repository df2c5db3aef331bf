// Package layout holds the import rules of the house as a test: which
// packages may link libav (through go-astiav) and which must stay pure Go.
// docs/ARCHITECTURE.md states the same rules for readers.
package layout

// Module is the module path of hlsfleet.
const Module = "github.com/hlsfleet/hlsfleet"

// Pure are the packages that must not link libav: importing any of them
// (the vocabulary in job, the worker, the queue and storage drivers, the
// event sinks, the dashboard) never pulls in cgo or FFmpeg.
var Pure = []string{
	"fault", "job", "ladders", "queue", "storage", "worker", "events", "dashboard",
	"instance", "live", "scaling", "jobexec/protocol", "pipeline/hls", "internal/isolate",
	"internal/awsconf", "jobexec/attempt", "jobexec/chunks", "internal/chunkcheck",
}

// Libav are the only packages (besides tests, benchmarks and the Lambda's
// inline path) that may link libav.
var Libav = []string{"pipeline", "jobexec", "lambda", "cmd/hlsfleet", "cmd/hlsfleet-lambda"}
