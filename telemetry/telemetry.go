package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Protocols of the OTLP exporter (OTEL_EXPORTER_OTLP_PROTOCOL).
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// DefaultServiceName is service.name when OTEL_SERVICE_NAME is unset.
const DefaultServiceName = "identityd"

// Settings is the tracing configuration read from the standard OTEL_*
// variables (FromEnv). The zero value is tracing off.
type Settings struct {
	// Enabled is true when an OTLP endpoint is set and OTEL_SDK_DISABLED
	// is not true.
	Enabled bool
	// Endpoint is the URL spans are sent to: for http/protobuf the full
	// URL (…/v1/traces), for grpc the collector's address as a URL.
	Endpoint string
	// Protocol is ProtocolHTTP or ProtocolGRPC.
	Protocol string
	// ServiceName is the resource's service.name.
	ServiceName string
	// Sampler is OTEL_TRACES_SAMPLER (lower case; "" is the SDK default,
	// parentbased_always_on) and SamplerArg its parsed argument.
	Sampler    string
	SamplerArg float64
}

// LogValue keeps the endpoint (it may carry credentials in its user
// part) out of log lines.
func (s Settings) LogValue() slog.Value {
	return slog.GroupValue(slog.Bool("enabled", s.Enabled), slog.String("protocol", s.Protocol),
		slog.String("service_name", s.ServiceName), slog.String("sampler", s.Sampler))
}

// samplers are the OTEL_TRACES_SAMPLER values the SDK understands; true
// when the sampler takes OTEL_TRACES_SAMPLER_ARG (a ratio).
var samplers = map[string]bool{
	"always_on": false, "always_off": false, "traceidratio": true,
	"parentbased_always_on": false, "parentbased_always_off": false, "parentbased_traceidratio": true,
}

// FromEnv reads the tracing variables through getenv. Tracing is on when
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is set
// and OTEL_SDK_DISABLED is not "true". A bad value is an error naming its
// variable. The SDK would read the sampler variables itself but silently
// falls back to its default on a bad value; FromEnv refuses it instead.
func FromEnv(getenv func(string) string) (Settings, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	var problems []string
	bad := func(name, format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}
	s := Settings{ServiceName: get("OTEL_SERVICE_NAME"), Protocol: ProtocolHTTP}
	if s.ServiceName == "" {
		s.ServiceName = DefaultServiceName
	}
	switch v := strings.ToLower(get("OTEL_SDK_DISABLED")); v {
	case "", "false":
	case "true":
		return Settings{}, nil
	default:
		bad("OTEL_SDK_DISABLED", "use true or false")
	}
	protoVar := "OTEL_EXPORTER_OTLP_PROTOCOL"
	if get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") != "" {
		protoVar = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	}
	switch p := get(protoVar); p {
	case "", ProtocolHTTP:
	case ProtocolGRPC:
		s.Protocol = ProtocolGRPC
	default:
		bad(protoVar, "%q is not supported (use http/protobuf or grpc)", p)
	}
	endVar, endpoint := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	signal := true
	if endpoint == "" {
		endVar, endpoint, signal = "OTEL_EXPORTER_OTLP_ENDPOINT", get("OTEL_EXPORTER_OTLP_ENDPOINT"), false
	}
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(endVar, "use an http:// or https:// URL such as http://localhost:4318")
		} else {
			s.Enabled = true
			s.Endpoint = endpoint
			// OTLP/HTTP appends the signal's path to the base endpoint
			// (OTLP exporter specification); the signal's own variable is
			// used as it is.
			if !signal && s.Protocol == ProtocolHTTP {
				s.Endpoint = strings.TrimRight(endpoint, "/") + "/v1/traces"
			}
		}
	}
	s.Sampler = strings.ToLower(get("OTEL_TRACES_SAMPLER"))
	if s.Sampler != "" {
		ratio, known := samplers[s.Sampler]
		switch {
		case !known:
			bad("OTEL_TRACES_SAMPLER", "%q is not supported (use always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio)", s.Sampler)
		case ratio:
			s.SamplerArg = 1
			if a := get("OTEL_TRACES_SAMPLER_ARG"); a != "" {
				f, err := strconv.ParseFloat(a, 64)
				if err != nil || f < 0 || f > 1 {
					bad("OTEL_TRACES_SAMPLER_ARG", "%q must be a ratio from 0 to 1", a)
				}
				s.SamplerArg = f
			}
		}
	}
	if len(problems) > 0 {
		return Settings{}, errors.New(strings.Join(problems, "; "))
	}
	return s, nil
}

// sampler builds the SDK sampler of s (nil: the SDK's default).
func (s Settings) sampler() sdktrace.Sampler {
	switch s.Sampler {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(s.SamplerArg)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(s.SamplerArg))
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}

// Tracing is a running SDK TracerProvider; Shutdown flushes it.
type Tracing struct {
	Provider *sdktrace.TracerProvider
}

// Setup builds the TracerProvider of s (nil when tracing is off): a batch
// span processor in front of the OTLP exporter, the resource's
// service.name and service.version (plus OTEL_RESOURCE_ATTRIBUTES), the
// sampler. It installs the provider and the W3C TraceContext + Baggage
// propagator globally, for the parts that use otel.Tracer (the relay's
// AMQP spans, the webhook requests), and routes the SDK's own errors
// (an unreachable collector) to log. The exporter reads the remaining
// standard variables itself: OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT,
// _COMPRESSION, _CERTIFICATE and their _TRACES_ forms.
func Setup(ctx context.Context, s Settings, log *slog.Logger) (*Tracing, error) {
	if !s.Enabled {
		return nil, nil
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	if s.Protocol == ProtocolGRPC {
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(s.Endpoint))
	} else {
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(s.Endpoint))
	}
	if err != nil {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", s.ServiceName),
		attribute.String("service.version", version()),
	))
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	if env, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, env); err == nil {
			res = merged
		}
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(s.sampler()),
	)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(Propagator())
	if log != nil {
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			log.Warn("opentelemetry", "err", err)
		}))
	}
	return &Tracing{Provider: tp}, nil
}

// Shutdown flushes the spans still queued and stops the exporter, waiting
// at most five seconds for the collector.
func (t *Tracing) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := t.Provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing shutdown: %w", err)
	}
	return nil
}

// Propagator is the W3C Trace Context and Baggage propagator.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// version is the binary's module version (service.version).
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
