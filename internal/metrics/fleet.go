package metrics

import "github.com/prometheus/client_golang/prometheus"

// FleetStats is what the fleet tier collector reads on each scrape.
// server.go fills it from fleet.Source.Stats and Up.
type FleetStats struct {
	Up                                                        bool
	Hits, Loads, Waits, Fallbacks, Stored, Patches, Conflicts uint64
}

// RegisterFleet registers a collector that calls stats once per scrape and
// exposes it as orgusers_fleet_* metrics (only with REDIS_URL). It panics
// when called twice on one Metrics.
func (m *Metrics) RegisterFleet(stats func() FleetStats) {
	m.reg.MustRegister(&fleetCollector{stats: stats})
}

type fleetCollector struct {
	stats func() FleetStats
}

var (
	fleetUp          = fleetDesc("redis_up", "1 while Redis is in use, 0 while its circuit breaker is open and this replica works on its own.")
	fleetHits        = fleetDesc("hits_total", "Loads answered from a fresh snapshot in Redis.")
	fleetLoads       = fleetDesc("loads_total", "Clerk loads this replica ran under an organization's lease.")
	fleetWaits       = fleetDesc("waits_total", "Loads that waited for another replica's.")
	fleetFallbacks   = fleetDesc("fallbacks_total", "Loads sent straight to Clerk because Redis was unreachable.")
	fleetStored      = fleetDesc("stored_total", "Loaded snapshots stored in Redis.")
	fleetPatches     = fleetDesc("patches_total", "Snapshots in Redis patched with this replica's changes.")
	fleetConflicts   = fleetDesc("conflicts_total", "Patches retried after another replica's write won the compare-and-set.")
	fleetDescriptors = []*prometheus.Desc{fleetUp, fleetHits, fleetLoads, fleetWaits, fleetFallbacks, fleetStored, fleetPatches, fleetConflicts}
)

func fleetDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "fleet", name), help, nil, nil)
}

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range fleetDescriptors {
		ch <- d
	}
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	up := 0.0
	if s.Up {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(fleetUp, prometheus.GaugeValue, up)
	for _, v := range []struct {
		d *prometheus.Desc
		v uint64
	}{
		{fleetHits, s.Hits}, {fleetLoads, s.Loads}, {fleetWaits, s.Waits}, {fleetFallbacks, s.Fallbacks},
		{fleetStored, s.Stored}, {fleetPatches, s.Patches}, {fleetConflicts, s.Conflicts},
	} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.v))
	}
}
