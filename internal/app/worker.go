package app

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Job is one loop of the background worker: Run works until ctx ends.
type Job struct {
	Name string
	Run  func(ctx context.Context)
}

// WorkerJobs are the background jobs of this instance: pruning and the mail
// queue, and (issue 11) the relay to RabbitMQ, the webhook deliveries and
// the OTP request queue when they are configured. `identityd worker` runs
// them alone; `identityd serve` runs them in-process unless --no-worker.
func (a *App) WorkerJobs() []Job {
	jobs := []Job{
		{Name: "prune", Run: a.Pruner.Run},
		{Name: "mail", Run: a.MailQueue.Run},
	}
	return append(jobs, a.extraJobs...)
}

// Worker runs the background jobs and reports whether they run.
type Worker struct {
	jobs    []Job
	running atomic.Int32
	started atomic.Bool
	wg      sync.WaitGroup
	stop    context.CancelFunc
}

// StartWorker starts every job of a in its own goroutine; Stop ends them.
func (a *App) StartWorker(ctx context.Context) *Worker {
	ctx, cancel := context.WithCancel(ctx)
	w := &Worker{jobs: a.WorkerJobs(), stop: cancel}
	w.started.Store(true)
	for _, j := range w.jobs {
		w.wg.Add(1)
		w.running.Add(1)
		go func(j Job) {
			defer w.wg.Done()
			defer w.running.Add(-1)
			j.Run(ctx)
			if ctx.Err() == nil {
				a.Log.Error("worker job stopped on its own", "job", j.Name)
			}
		}(j)
	}
	a.worker.Store(w)
	return w
}

// Healthy reports whether every job is still running (a job that
// returned before Stop has failed).
func (w *Worker) Healthy() bool {
	return w.started.Load() && int(w.running.Load()) == len(w.jobs)
}

// Stop ends the jobs and waits for them, at most until grace has passed.
func (w *Worker) Stop(grace time.Duration) {
	w.stop()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
	}
}
