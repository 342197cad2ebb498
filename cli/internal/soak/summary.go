package soak

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteSummary writes a report as a table, one row per round, followed by
// the totals and every failure.
func WriteSummary(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "round\trequests\tcompleted\thung up\tnon-stream\trefused\tfailures\telapsed\tfirst event p95\tstream p50\tstream p95\tgoroutines\tRSS MiB\theap MiB\t\n")
	fmt.Fprintf(tw, "base\t\t\t\t\t\t\t\t\t\t\t%d\t%.1f\t%.1f\t\n", r.Baseline.Goroutines, mib(r.Baseline.RSSBytes), mib(r.Baseline.HeapBytes))
	for _, rd := range r.Rounds {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%.1f\t%.1f\t\n",
			rd.Index, rd.Requests, rd.Completed, rd.HungUp, rd.NonStream, rd.Refused, len(rd.Failures),
			ms(rd.Elapsed), ms(rd.FirstEvent.P95), ms(rd.Stream.P50), ms(rd.Stream.P95), rd.After.Goroutines, mib(rd.After.RSSBytes), mib(rd.After.HeapBytes))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	failures := r.Failures()
	if _, err := fmt.Fprintf(w, "%s model %s: %d rounds, %d requests, %d failures in %s\n",
		r.BaseURL, r.Model, len(r.Rounds), r.Requests(), len(failures), r.Elapsed.Round(time.Millisecond)); err != nil {
		return err
	}
	for _, f := range failures {
		if _, err := fmt.Fprintln(w, "FAIL", f); err != nil {
			return err
		}
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }
