// Package events carries the transactional outbox to RabbitMQ and
// consumes the OTP request queue (issue 11 §2 and §4).
//
//   - Broker is the connection manager: one AMQP connection to the first
//     of the configured URLs that answers (RABBITMQ_URL, RABBITMQ_URIS),
//     dialled again on the next use after it broke.
//   - Publisher sends one outbox row as a persistent CloudEvent (CloudEvent
//     builds the envelope) to the durable topic exchange identity.ExchangeOf
//     names, routing key = the event type, and waits for the publisher
//     confirm.
//   - Relay is the worker job that drains the outbox in seq order under the
//     "event-relay" job lease, marking a row published only once it was
//     confirmed (see Relay for the ordering rule).
//   - OTPConsumer is the worker job that consumes identity.otp.requests
//     (seed 001) and runs the POST /api/otp/generate use case for each
//     message, dead-lettering the ones that can never succeed
//     (docs/otp-queue.md).
//
// It imports identity (event types, the OTP use case's types), models and
// metrics; storage implements its store interface, internal/app wires it.
package events
