package app

import (
	"github.com/identityd/identityd/events"
	"github.com/identityd/identityd/handlers"
	"github.com/identityd/identityd/storage"
)

// Relay job names (issue 11 §2 and §4), as WorkerJobs lists them.
const (
	JobEventRelay = "event-relay"
	JobOTPQueue   = "otp-queue"
)

// wireRelay wires RabbitMQ when it is configured (RABBITMQ_URL,
// RABBITMQ_URIS): the relay of the outbox and the OTP request queue's
// consumer as worker jobs, sharing one connection manager, and the
// "rabbitmq" health check it returns. Unconfigured it adds nothing:
// events stay in the outbox. Nothing dials here; a broker that is down
// at start delays the jobs, never the start.
func (a *App) wireRelay(health *[]handlers.HealthCheck) error {
	cfg := a.Config
	if len(cfg.RabbitMQURLs) == 0 {
		return nil
	}
	urls := make([]string, len(cfg.RabbitMQURLs))
	for i, u := range cfg.RabbitMQURLs {
		urls[i] = string(u)
	}
	broker, err := events.NewBroker(events.BrokerConfig{URLs: urls, Timeout: cfg.RabbitMQTimeout, Log: a.Log})
	if err != nil {
		return err
	}
	a.closers = append(a.closers, broker.Close)
	relay, err := events.NewRelay(events.RelayDeps{Store: a.Store, Publisher: events.NewPublisher(broker, cfg.RabbitMQTimeout),
		Metrics: a.Metrics, Log: a.Log, Config: events.RelayConfig{Holder: pruneHolder(), Batch: cfg.RelayBatch, Interval: cfg.RelayInterval}})
	if err != nil {
		return err
	}
	retries := cfg.OTPQueueRetries
	if retries == 0 {
		retries = -1 // none: the consumer's zero means its default
	}
	otp, err := events.NewOTPConsumer(events.OTPConsumerDeps{Broker: broker, Codes: a.OneTimeCodes, Metrics: a.Metrics, Log: a.Log,
		Config: events.OTPConsumerConfig{Queue: cfg.OTPQueue, MaxRetries: retries}})
	if err != nil {
		return err
	}
	a.extraJobs = append(a.extraJobs, Job{Name: JobEventRelay, Run: relay.Run}, Job{Name: JobOTPQueue, Run: otp.Run})
	*health = append(*health, handlers.HealthCheck{Name: "rabbitmq", Check: broker.Ping})
	return nil
}

// The Store is the relay's outbox and lease store.
var _ events.RelayStore = (*storage.Store)(nil)
