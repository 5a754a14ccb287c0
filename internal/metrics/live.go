package metrics

import "github.com/prometheus/client_golang/prometheus"

// LiveStats is what the subscriptions collector reads on each scrape.
// server.go fills it from live.Hub.Stats.
type LiveStats struct {
	Subscribers               int
	Events, SlowClosed, Diffs uint64
}

// RegisterLive registers a collector that calls stats once per scrape and
// exposes the orgUsersChanged subscriptions as orgusers_subscriptions_*
// metrics. It panics when called twice on one Metrics.
func (m *Metrics) RegisterLive(stats func() LiveStats) {
	m.reg.MustRegister(&liveCollector{stats: stats})
}

type liveCollector struct {
	stats func() LiveStats
}

var (
	liveOpen        = liveDesc("open", "orgUsersChanged subscriptions open now.")
	liveEvents      = liveDesc("events_total", "Events handed to subscribers.")
	liveSlow        = liveDesc("slow_closed_total", "Subscribers closed with SLOW_CONSUMER.")
	liveDiffs       = liveDesc("diffs_total", "Snapshot changes diffed for subscribers.")
	liveDescriptors = []*prometheus.Desc{liveOpen, liveEvents, liveSlow, liveDiffs}
)

func liveDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "subscriptions", name), help, nil, nil)
}

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range liveDescriptors {
		ch <- d
	}
}

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(liveOpen, prometheus.GaugeValue, float64(s.Subscribers))
	ch <- prometheus.MustNewConstMetric(liveEvents, prometheus.CounterValue, float64(s.Events))
	ch <- prometheus.MustNewConstMetric(liveSlow, prometheus.CounterValue, float64(s.SlowClosed))
	ch <- prometheus.MustNewConstMetric(liveDiffs, prometheus.CounterValue, float64(s.Diffs))
}
