package worker

import (
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Job outcomes, the values of hlsfleet_jobs_total's "outcome" label.
const (
	OutcomePublished    = "published"     // this worker published the job's output
	OutcomeDuplicate    = "duplicate"     // the output was already published: acknowledged without (or after redundant) work
	OutcomeFailed       = "failed"        // permanent failure: the input is at fault
	OutcomeRetried      = "retried"       // transient failure: released with backoff
	OutcomeCrashed      = "crashed"       // the job process died by a signal or the memory limit: released with backoff
	OutcomeDeadLettered = "dead_lettered" // a message moved to the dead-letter queue by this worker
	OutcomeIgnored      = "ignored"       // a message that asks for no work (S3 test event, deletions)
	OutcomePlanned      = "planned"       // a long VOD job split into chunk jobs (issue H), their jobs sent
)

// Chunk outcomes, the values of hlsfleet_chunks_total's "outcome" label:
// what became of each chunk job this worker ran (issue H).
const (
	ChunkTranscoded = "transcoded" // transcoded here and recorded done
	ChunkDuplicate  = "duplicate"  // done already, or recorded first by another attempt (this one's objects deleted)
	ChunkSkipped    = "skipped"    // nothing to do: the job is published, or its plan failed or was replaced
	ChunkFinished   = "finished"   // transcoded or done, and this worker's finish published the job
	ChunkFailed     = "failed"     // failed for good: dead-lettered, the job failed with its reason
	ChunkRetried    = "retried"    // failed; released with backoff (or waiting out an outage)
	ChunkReleased   = "released"   // released by a shutdown or spot interruption
)

// Metrics are the worker's Prometheus metrics. Make them with NewMetrics.
type Metrics struct {
	Jobs            *prometheus.CounterVec // hlsfleet_jobs_total{outcome}
	Duration        prometheus.Histogram   // hlsfleet_job_duration_seconds: wall time of a successful run
	RealtimeFactor  prometheus.Histogram   // hlsfleet_job_realtime_factor: media seconds per wall second
	InFlight        prometheus.Gauge       // hlsfleet_jobs_in_flight: messages being worked on
	LeaseExtensions *prometheus.CounterVec // hlsfleet_lease_extensions_total{result=ok|lost}
	ReceiveLatency  prometheus.Histogram   // hlsfleet_receive_latency_seconds: message SentAt → received
	OutputBytes     prometheus.Counter     // hlsfleet_output_bytes_total

	// Status documents and outages.
	StatusWrites *prometheus.CounterVec // hlsfleet_status_writes_total{result=dropped|repaired}
	InfraWaits   prometheus.Counter     // hlsfleet_infra_waits_total: in-process waits on storage or queue outages

	// Live segments.
	LiveLatency        prometheus.Histogram // hlsfleet_live_segment_latency_seconds: source object time → every rendition playlist updated
	LiveRealtimeFactor prometheus.Histogram // hlsfleet_live_segment_realtime_factor: transcode wall seconds per media second
	LiveSkipped        prometheus.Counter   // hlsfleet_live_segments_skipped_total

	// Chunked jobs.
	Chunks        *prometheus.CounterVec // hlsfleet_chunks_total{outcome}
	ChunkJobsSent prometheus.Counter     // hlsfleet_chunk_jobs_sent_total
}

// NewMetrics makes the worker's metrics and registers them with reg (nil:
// not registered anywhere, which tests and a worker without /metrics use).
// Registering twice with one registry panics, as prometheus.MustRegister does.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hlsfleet_jobs_total",
			Help: "Jobs and messages handled, by outcome (published, duplicate, failed, retried, crashed, dead_lettered, ignored).",
		}, []string{"outcome"}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hlsfleet_job_duration_seconds",
			Help:    "Wall-clock time of successful job runs.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14), // 1 s .. ~2.3 h
		}),
		RealtimeFactor: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hlsfleet_job_realtime_factor",
			Help:    "Media seconds transcoded per wall-clock second, per successful job.",
			Buckets: []float64{0.25, 0.5, 1, 2, 4, 8, 16, 32, 64},
		}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hlsfleet_jobs_in_flight",
			Help: "Messages this worker is working on now.",
		}),
		LeaseExtensions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hlsfleet_lease_extensions_total",
			Help: "Lease (visibility) extensions, by result: ok, or lost (the job was canceled).",
		}, []string{"result"}),
		ReceiveLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hlsfleet_receive_latency_seconds",
			Help:    "Time from a message's first send to its receipt by this worker.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 12), // 10 ms .. ~12 h
		}),
		OutputBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hlsfleet_output_bytes_total",
			Help: "Bytes of HLS output published by this worker.",
		}),
		StatusWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hlsfleet_status_writes_total",
			Help: "Unusual job.json writes, by result: dropped (it already said published), repaired (a published output's stale document corrected).",
		}, []string{"result"}),
		InfraWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hlsfleet_infra_waits_total",
			Help: "Waits on an unavailable storage or queue with the message held (no receive spent).",
		}),
		LiveLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hlsfleet_live_segment_latency_seconds",
			Help:    "Per live segment, from the source object's time to every rendition playlist updated.",
			Buckets: []float64{0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 32, 64},
		}),
		LiveRealtimeFactor: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hlsfleet_live_segment_realtime_factor",
			Help:    "Per live segment, transcode wall-clock seconds per media second (below 1 keeps up).",
			Buckets: []float64{0.05, 0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.75, 1, 1.5, 2, 4},
		}),
		LiveSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hlsfleet_live_segments_skipped_total",
			Help: "Live segments skipped in the playlists (failed for good, or missing past the gap timeout).",
		}),
		Chunks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hlsfleet_chunks_total",
			Help: "Chunk jobs of long VOD jobs run by this worker, by outcome (transcoded, duplicate, skipped, finished, failed, retried, released).",
		}, []string{"outcome"}),
		ChunkJobsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hlsfleet_chunk_jobs_sent_total",
			Help: "Chunk jobs sent by this worker for the long VOD jobs it planned.",
		}),
	}
	m.exportZeros()
	if reg != nil {
		reg.MustRegister(m.Jobs, m.Duration, m.RealtimeFactor, m.InFlight, m.LeaseExtensions,
			m.ReceiveLatency, m.OutputBytes, m.StatusWrites, m.InfraWaits,
			m.LiveLatency, m.LiveRealtimeFactor, m.LiveSkipped, m.Chunks, m.ChunkJobsSent)
	}
	return m
}

// exportZeros creates every labelled series at 0, so that rates work from
// the start.
func (m *Metrics) exportZeros() {
	for _, o := range []string{OutcomePublished, OutcomeDuplicate, OutcomeFailed, OutcomeRetried,
		OutcomeCrashed, OutcomeDeadLettered, OutcomeIgnored, OutcomePlanned} {
		m.Jobs.WithLabelValues(o)
	}
	m.LeaseExtensions.WithLabelValues("ok")
	m.LeaseExtensions.WithLabelValues("lost")
	m.StatusWrites.WithLabelValues("dropped")
	m.StatusWrites.WithLabelValues("repaired")
	for _, o := range []string{ChunkTranscoded, ChunkDuplicate, ChunkSkipped, ChunkFinished, ChunkFailed, ChunkRetried, ChunkReleased} {
		m.Chunks.WithLabelValues(o)
	}
}

// Handler serves /metrics from reg (nil: the default gatherer), /healthz
// (200 while the process is alive) and /readyz (200 while w receives, 503
// while it drains or before it starts). The /readyz body is "ready" or "not
// ready" and then each of notes (the worker's accelerator), a line each.
func Handler(w *Worker, reg *prometheus.Registry, notes ...string) http.Handler {
	mux := http.NewServeMux()
	var g prometheus.Gatherer = prometheus.DefaultGatherer
	if reg != nil {
		g = reg
	}
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = rw.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if w == nil || !w.Ready() {
			rw.WriteHeader(http.StatusServiceUnavailable)
			_, _ = rw.Write([]byte("not ready\n"))
		} else {
			_, _ = rw.Write([]byte("ready\n"))
		}
		for _, n := range notes {
			_, _ = io.WriteString(rw, n+"\n")
		}
	})
	return mux
}
