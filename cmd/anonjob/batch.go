package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	anonjobv1 "github.com/anonjob/anonjob/gen/anonjob/v1"
)

// batch submits images and, with --wait, follows all their jobs on one watch stream,
// saving results as jobs finish.
type batch struct {
	e      *env
	c      *submitCmd
	inputs []input
	wait   bool
	start  time.Time
	bar    *progressbar.ProgressBar // nil unless stderr is a terminal

	outMu sync.Mutex // one writer at a time on stdout, stderr and the bar; taken after mu

	mu       sync.Mutex
	byID     map[string][]*item
	latest   map[string]*anonjobv1.Job // newest state seen on the stream, by job id
	left     int                       // inputs not finished yet
	allDone  chan struct{}
	counts   map[string]int
	saved    int
	kept     int
	problems []string
	saves    sync.WaitGroup
	sem      chan struct{}
}

type item struct {
	in   input
	job  *anonjobv1.Job
	done bool
}

func newBatch(e *env, c *submitCmd, inputs []input) *batch {
	return &batch{e: e, c: c, inputs: inputs, wait: c.Wait || c.Out != "", start: time.Now(),
		byID: map[string][]*item{}, latest: map[string]*anonjobv1.Job{}, left: len(inputs),
		allDone: make(chan struct{}), counts: map[string]int{}, sem: make(chan struct{}, c.Concurrency)}
}

func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (b *batch) run() error {
	ctx, cancel := context.WithCancel(b.e.ctx)
	defer cancel()
	watchErr := make(chan error, 1)
	if b.wait {
		if isTerminalWriter(b.e.out.err) && !b.e.out.json {
			b.bar = progressbar.NewOptions(len(b.inputs), progressbar.OptionSetWriter(b.e.out.err),
				progressbar.OptionSetDescription(b.describeCounts()), progressbar.OptionShowCount(),
				progressbar.OptionShowIts(), progressbar.OptionSetItsString("jobs"),
				progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(30), progressbar.OptionClearOnFinish())
		}
		// The stream must be running before the first job is created, or the job's first
		// changes could come before the stream's starting revision and be missed.
		ready := make(chan struct{})
		var once sync.Once
		go func() {
			watchErr <- resumableWatch(ctx, b.e.client, &anonjobv1.WatchJobsRequest{},
				func(msg *anonjobv1.WatchJobsResponse) error {
					once.Do(func() { close(ready) })
					for _, ev := range msg.GetEvents() {
						b.observe(ctx, ev.GetJob())
					}
					return nil
				},
				func(err error, resume int64) { b.note(describeBreak(err, resume)) })
		}()
		select {
		case <-ready:
		case err := <-watchErr:
			return fmt.Errorf("watch: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	b.createAll(ctx)
	if b.wait {
		select {
		case <-b.allDone:
		case err := <-watchErr:
			if ctx.Err() == nil {
				return fmt.Errorf("watch: %w", err)
			}
		}
		b.saves.Wait()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return b.summary()
}

// createAll uploads the images, --concurrency at a time.
func (b *batch) createAll(ctx context.Context) {
	work := make(chan input)
	var wg sync.WaitGroup
	for range min(b.c.Concurrency, len(b.inputs)) {
		wg.Go(func() {
			for in := range work {
				b.create(ctx, in)
			}
		})
	}
	for _, in := range b.inputs {
		select {
		case work <- in:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
}

func (b *batch) create(ctx context.Context, in input) {
	req, err := b.c.request(in)
	if err == nil {
		var resp *anonjobv1.CreateJobResponse
		resp, err = b.e.client.CreateJob(ctx, req)
		if err == nil {
			b.register(ctx, &item{in: in, job: resp.GetJob()})
			return
		}
	}
	b.mu.Lock()
	b.counts["rejected"]++
	b.problems = append(b.problems, fmt.Sprintf("%s: %s", in.path, describe(err)))
	b.mu.Unlock()
	b.note(fmt.Sprintf("REJECTED  %s  %s", in.path, describe(err)))
	b.finished()
}

// register takes a created job into the batch, with anything the stream already said about it.
func (b *batch) register(ctx context.Context, it *item) {
	b.mu.Lock()
	id := it.job.GetId()
	if seen := b.latest[id]; seen != nil && seen.GetRevision() > it.job.GetRevision() {
		it.job = seen
	}
	b.byID[id] = append(b.byID[id], it)
	j := it.job
	b.mu.Unlock()
	if !b.wait {
		b.report(it, "")
		b.finished()
		return
	}
	b.progress(j)
	if isTerminal(j.GetStatus()) {
		b.finish(ctx, it)
	}
}

// observe applies one event from the stream.
func (b *batch) observe(ctx context.Context, j *anonjobv1.Job) {
	b.mu.Lock()
	id := j.GetId()
	if seen := b.latest[id]; seen != nil && seen.GetRevision() >= j.GetRevision() {
		b.mu.Unlock()
		return
	}
	b.latest[id] = j
	var ended []*item
	changed := false
	for _, it := range b.byID[id] {
		if it.done || it.job.GetRevision() >= j.GetRevision() {
			continue
		}
		it.job, changed = j, true
		if isTerminal(j.GetStatus()) {
			ended = append(ended, it)
		}
	}
	b.mu.Unlock()
	if changed {
		b.progress(j)
	}
	for _, it := range ended {
		b.finish(ctx, it)
	}
}

// finish saves an ended job's results (in the background, --concurrency at a time) and
// reports it.
func (b *batch) finish(ctx context.Context, it *item) {
	b.mu.Lock()
	if it.done {
		b.mu.Unlock()
		return
	}
	it.done = true
	b.counts[statusWord(it.job.GetStatus())]++
	b.mu.Unlock()
	b.saves.Go(func() {
		note := ""
		if b.c.Out != "" && it.job.GetStatus() == anonjobv1.JobStatus_JOB_STATUS_DONE {
			b.sem <- struct{}{}
			note = b.save(ctx, it)
			<-b.sem
		}
		b.report(it, note)
		b.finished()
	})
}

func (b *batch) save(ctx context.Context, it *item) string {
	rel := it.in.rel
	stem := filepath.Join(b.c.Out, strings.TrimSuffix(rel, filepath.Ext(rel)))
	ext := filepath.Ext(rel)
	if ext == "" {
		ext = imageExt(it.job.GetContentType())
	}
	saved, kept, err := saveResults(ctx, b.e.client, it.job, b.c.Files, stem, ext, it.in.path)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.saved += saved
	b.kept += kept
	if err != nil {
		b.problems = append(b.problems, fmt.Sprintf("%s: saving: %v", it.in.path, err))
		return "saving failed: " + err.Error()
	}
	if saved == 0 {
		return "already saved"
	}
	return "saved " + resultName(stem, ext, b.c.Files[0])
}

func (b *batch) finished() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.left--
	if b.bar != nil {
		b.outMu.Lock()
		b.bar.Describe(b.describeCounts())
		_ = b.bar.Add(1)
		b.outMu.Unlock()
	}
	if b.left == 0 {
		close(b.allDone)
	}
}

// progress shows each step of a single followed job; a batch shows only finished jobs.
func (b *batch) progress(j *anonjobv1.Job) {
	if b.bar == nil && b.wait && len(b.inputs) == 1 {
		b.outMu.Lock()
		b.e.out.progress(j)
		b.outMu.Unlock()
	}
}

// note prints a line without tearing the bar.
func (b *batch) note(line string) {
	b.outMu.Lock()
	defer b.outMu.Unlock()
	if b.bar != nil {
		_ = b.bar.Clear()
	}
	_, _ = fmt.Fprintln(b.e.out.err, line)
}

// report prints one line (or JSON object) per finished or, without --wait, created job.
func (b *batch) report(it *item, note string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.outMu.Lock()
	defer b.outMu.Unlock()
	switch {
	case b.e.out.json:
		_ = b.e.out.message(it.job)
	case len(b.inputs) == 1:
		_ = b.e.out.job(it.job)
		if note != "" {
			_, _ = fmt.Fprintln(b.e.out.err, note)
		}
	default:
		if b.bar != nil {
			_ = b.bar.Clear()
		}
		line := fmt.Sprintf("%-10s  %s  %s", statusWord(it.job.GetStatus()), it.in.path, it.job.GetId())
		if m := it.job.GetError().GetMessage(); m != "" {
			line += "  " + m
		}
		if note != "" {
			line += "  " + note
		}
		_, _ = fmt.Fprintln(b.e.out.w, line)
	}
}

func (b *batch) describeCounts() string {
	return fmt.Sprintf("done %d, failed %d", b.counts["DONE"], b.counts["FAILED"]+b.counts["CANCELLED"]+b.counts["rejected"])
}

// summary ends the batch: counts on stderr, and an error (non-zero exit) if any image did
// not end DONE or a result could not be saved.
func (b *batch) summary() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.outMu.Lock()
	defer b.outMu.Unlock()
	if b.bar != nil {
		_ = b.bar.Finish()
	}
	if len(b.inputs) == 1 && len(b.problems) == 0 {
		for _, items := range b.byID {
			if b.wait {
				return endOf(items[0].job)
			}
		}
		return nil
	}
	if !b.wait {
		_, _ = fmt.Fprintf(b.e.out.err, "%d images submitted, %d rejected\n", len(b.inputs)-b.counts["rejected"], b.counts["rejected"])
	} else {
		_, _ = fmt.Fprintf(b.e.out.err, "%d images: %d done, %d failed, %d cancelled, %d rejected", len(b.inputs),
			b.counts["DONE"], b.counts["FAILED"], b.counts["CANCELLED"], b.counts["rejected"])
		if b.c.Out != "" {
			_, _ = fmt.Fprintf(b.e.out.err, "; %d files saved, %d already there", b.saved, b.kept)
		}
		_, _ = fmt.Fprintf(b.e.out.err, "; %s\n", time.Since(b.start).Round(time.Millisecond))
	}
	bad := b.counts["FAILED"] + b.counts["CANCELLED"] + b.counts["rejected"]
	if bad > 0 || len(b.problems) > 0 {
		for _, p := range b.problems {
			_, _ = fmt.Fprintln(b.e.out.err, "  "+p)
		}
		return fmt.Errorf("%w: %d of %d images did not end DONE, %d problems", errJobNotDone, bad, len(b.inputs), len(b.problems))
	}
	return nil
}
