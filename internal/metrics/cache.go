package metrics

import "github.com/prometheus/client_golang/prometheus"

// CacheStats is what the snapshot cache collector reads on each scrape.
// server.go fills it from cache.Stats and cache.SizeBytes.
type CacheStats struct {
	Hits, Misses, StaleServed, Loads, Refreshes, Errors, Evictions, Patches uint64
	Entries                                                                 int
	Bytes                                                                   int64
}

// RegisterCache registers a collector that calls stats once per scrape and
// exposes its counters as orgusers_cache_* metrics. It panics when called
// twice on one Metrics.
func (m *Metrics) RegisterCache(stats func() CacheStats) {
	m.reg.MustRegister(&cacheCollector{stats: stats})
}

type cacheCollector struct {
	stats func() CacheStats
}

var (
	cacheHits        = cacheDesc("hits_total", "Snapshot requests served a fresh snapshot.")
	cacheMisses      = cacheDesc("misses_total", "Snapshot requests that waited for a load (cold, invalidated, or older than CACHE_MAX_STALE).")
	cacheStale       = cacheDesc("stale_served_total", "Snapshot requests served a snapshot older than CACHE_TTL.")
	cacheLoads       = cacheDesc("loads_total", "Synchronous snapshot loads started (shared by the requests that waited).")
	cacheRefreshes   = cacheDesc("refreshes_total", "Background snapshot refreshes started.")
	cacheErrors      = cacheDesc("errors_total", "Snapshot loads and refreshes that failed.")
	cacheEvictions   = cacheDesc("evictions_total", "Organizations evicted to respect CACHE_MAX_ORGS.")
	cachePatches     = cacheDesc("patches_total", "Snapshots rebuilt by applying changes (webhooks, admin writes).")
	cacheEntries     = cacheDesc("entries", "Organizations cached now.")
	cacheBytes       = cacheDesc("bytes", "Approximate heap held by the cached snapshots.")
	cacheDescriptors = []*prometheus.Desc{cacheHits, cacheMisses, cacheStale, cacheLoads, cacheRefreshes, cacheErrors, cacheEvictions, cachePatches, cacheEntries, cacheBytes}
)

func cacheDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "cache", name), help, nil, nil)
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range cacheDescriptors {
		ch <- d
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, v := range []struct {
		d *prometheus.Desc
		v uint64
	}{
		{cacheHits, s.Hits}, {cacheMisses, s.Misses}, {cacheStale, s.StaleServed}, {cacheLoads, s.Loads},
		{cacheRefreshes, s.Refreshes}, {cacheErrors, s.Errors}, {cacheEvictions, s.Evictions}, {cachePatches, s.Patches},
	} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.v))
	}
	ch <- prometheus.MustNewConstMetric(cacheEntries, prometheus.GaugeValue, float64(s.Entries))
	ch <- prometheus.MustNewConstMetric(cacheBytes, prometheus.GaugeValue, float64(s.Bytes))
}
