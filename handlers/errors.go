package handlers

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/models"
)

// apiError is the JSON error shape of the API.
type apiError struct {
	Error              string             `json:"error"`
	Message            string             `json:"message"`
	Fields             map[string]string  `json:"fields,omitempty"`
	RequiredPermission string             `json:"required_permission,omitempty"`
	StepUp             *models.StepUpInfo `json:"step_up,omitempty"`
}

func statusOf(k models.Kind) int {
	switch k {
	case models.KindInvalid:
		return http.StatusUnprocessableEntity
	case models.KindUnauthenticated:
		return http.StatusUnauthorized
	case models.KindForbidden, models.KindStepUpRequired:
		return http.StatusForbidden
	case models.KindNotFound:
		return http.StatusNotFound
	case models.KindConflict:
		return http.StatusConflict
	case models.KindLocked, models.KindRateLimited:
		return http.StatusTooManyRequests
	case models.KindUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// errorHandler is the one place errors become responses. Pages get the
// message page; the API gets JSON. Causes are logged, never rendered; a
// models.Error is logged at its LogLevel.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	ctx := c.Request().Context()
	var (
		status int
		body   apiError
		me     *models.Error
		he     *echo.HTTPError
		mbe    *http.MaxBytesError
	)
	switch {
	case unavailable(err):
		// A dependency is down or too slow, even if a service wrapped the
		// cause in an internal error: 503 and a time to come back.
		status = http.StatusServiceUnavailable
		body = apiError{Error: models.CodeUnavailable, Message: "The service is temporarily unavailable. Try again shortly."}
		retryAfter(c.Response().Header())
		s.Logger.ErrorContext(ctx, "request failed: dependency unavailable", "path", c.Request().URL.Path, "status", status, "err", err)
	case errors.As(err, &me):
		status = statusOf(me.Kind)
		body = apiError{Error: me.Code, Message: me.Msg, Fields: me.Fields, RequiredPermission: me.RequiredPermission, StepUp: me.StepUp}
		if me.StepUp != nil && me.StepUp.TTLSeconds == 0 {
			// Step-up answers (the route guard's and the grant rules') carry
			// no TTL: it is added here, in one place.
			su := *me.StepUp
			su.TTLSeconds = int(s.StepUp.TTL().Seconds())
			body.StepUp = &su
		}
		// Every Error is logged at its own level: server errors at Error,
		// lockouts and rate limits at Warn, the caller's mistakes at Info.
		// LogValue writes kind, code and cause, never the fields' values.
		s.Logger.Log(ctx, me.LogLevel(), "request failed", "path", c.Request().URL.Path, "status", status, "err", me)
		if me.Kind == models.KindInternal {
			body = apiError{Error: models.CodeInternal, Message: "Something went wrong on our side."}
		}
		if me.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(me.RetryAfter.Seconds()))))
		}
		if me.Kind == models.KindInvalid && body.Error == "" {
			body.Error = models.CodeValidationFailed
		}
	case errors.As(err, &mbe):
		status = http.StatusRequestEntityTooLarge
		body = apiError{Error: models.CodePayloadTooLarge, Message: "The request body is too large."}
	case errors.As(err, &he):
		status = he.Code
		body = apiError{Error: strings.ReplaceAll(strings.ToLower(http.StatusText(he.Code)), " ", "_"), Message: http.StatusText(he.Code) + "."}
		if status >= 500 {
			s.Logger.ErrorContext(ctx, "request failed", "path", c.Request().URL.Path, "err", err)
		}
	default:
		status = http.StatusInternalServerError
		body = apiError{Error: models.CodeInternal, Message: "Something went wrong on our side."}
		s.Logger.ErrorContext(ctx, "request failed", "path", c.Request().URL.Path, "err", err)
	}
	if status == http.StatusTooManyRequests && c.Response().Header().Get("Retry-After") == "" {
		c.Response().Header().Set("Retry-After", strconv.Itoa(60))
	}
	if body.Error == "" {
		body.Error = "error"
	}
	if !strings.HasPrefix(c.Request().URL.Path, "/api/") && !strings.HasPrefix(c.Request().URL.Path, "/.well-known/") {
		_ = s.renderMessage(c, status, "Something is not right", body.Message, true)
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, body)
}
