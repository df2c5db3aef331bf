package instance

import "github.com/prometheus/client_golang/prometheus"

// Notice kinds, the values of hlsfleet_instance_notices_total's "kind" label.
const (
	KindSpotInterruption = "spot_interruption"
	KindRebalance        = "rebalance_recommendation"
	KindTerminating      = "lifecycle_terminating"
)

// Metrics are the lifecycle watcher's Prometheus metrics.
type Metrics struct {
	Notices            *prometheus.CounterVec // hlsfleet_instance_notices_total{kind}
	InterruptionJobs   *prometheus.CounterVec // hlsfleet_interruption_jobs_total{decision=finish|release}
	LifecycleCompleted *prometheus.CounterVec // hlsfleet_lifecycle_actions_completed_total{result=ok|error}
	Protected          prometheus.Gauge       // hlsfleet_scale_in_protected (0 or 1)
	NoticeLead         prometheus.Gauge       // hlsfleet_interruption_notice_lead_seconds
}

// NewMetrics makes the metrics and registers them with reg (nil: none).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Notices: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hlsfleet_instance_notices_total",
			Help: "Instance notices seen in the metadata service, by kind (spot_interruption, rebalance_recommendation, lifecycle_terminating).",
		}, []string{"kind"}),
		InterruptionJobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hlsfleet_interruption_jobs_total",
			Help: "Jobs running when a spot interruption notice came, by decision: finish (fits before the deadline) or release (handed back to the queue at once).",
		}, []string{"decision"}),
		LifecycleCompleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hlsfleet_lifecycle_actions_completed_total",
			Help: "CompleteLifecycleAction calls after a drain, by result (ok, error).",
		}, []string{"result"}),
		Protected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hlsfleet_scale_in_protected",
			Help: "1 while this instance is protected from scale-in (it runs jobs), else 0.",
		}),
		NoticeLead: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hlsfleet_interruption_notice_lead_seconds",
			Help: "Seconds between the last spot interruption notice and its deadline, when seen.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Notices, m.InterruptionJobs, m.LifecycleCompleted, m.Protected, m.NoticeLead)
	}
	return m
}
