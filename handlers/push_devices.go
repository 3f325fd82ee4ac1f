package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
)

// PushDeviceService is the users' push registrations (identity.PushDevices).
// An id that is not the caller's, or a user of another tenant, is NotFound.
type PushDeviceService interface {
	// Register registers (or re-registers) a token for the signed-in user.
	Register(ctx context.Context, p identity.Principal, in identity.PushRegistration, meta identity.Meta) (*identity.PushDeviceView, error)
	// List returns the signed-in user's registrations, tokens masked.
	List(ctx context.Context, p identity.Principal) ([]identity.PushDeviceView, error)
	// Remove deletes one of the signed-in user's registrations.
	Remove(ctx context.Context, p identity.Principal, id string, meta identity.Meta) error
	// ForUser returns a user's registrations with their full tokens.
	ForUser(ctx context.Context, p identity.Principal, userID string) ([]identity.PushDeviceView, error)
}

// pushDeviceView is a registration as the API shows it. Token is masked
// (its last six characters) for the user's own listing and whole for a
// notification service.
type pushDeviceView struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id,omitempty"`
	DeviceID   *string   `json:"device_id"`
	Platform   string    `json:"platform"`
	Token      string    `json:"token"`
	AppID      string    `json:"app_id"`
	DeviceName string    `json:"device_name"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func viewPushDevice(d *identity.PushDeviceView, withUser bool) pushDeviceView {
	v := pushDeviceView{ID: d.ID, DeviceID: d.DeviceID, Platform: d.Platform, Token: d.Token, AppID: d.AppID,
		DeviceName: d.DeviceName, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if withUser {
		v.UserID = d.UserID
	}
	return v
}

func pushDeviceList(list []identity.PushDeviceView, withUser bool) map[string]any {
	out := make([]pushDeviceView, 0, len(list))
	for i := range list {
		out = append(out, viewPushDevice(&list[i], withUser))
	}
	return map[string]any{"push_devices": out}
}

// apiRegisterPushDevice registers the signed-in user's device for push
// (push_device.registered); the same token again updates its row.
func (s *Server) apiRegisterPushDevice(c echo.Context) error {
	var in struct {
		Platform   string `json:"platform"`
		Token      string `json:"token"`
		AppID      string `json:"app_id"`
		DeviceName string `json:"device_name"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	d, err := s.PushDevices.Register(c.Request().Context(), principal(c),
		identity.PushRegistration{Platform: in.Platform, Token: in.Token, AppID: in.AppID, DeviceName: in.DeviceName}, meta(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewPushDevice(d, false))
}

func (s *Server) apiListPushDevices(c echo.Context) error {
	list, err := s.PushDevices.List(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pushDeviceList(list, false))
}

// apiRemovePushDevice deletes one of the signed-in user's registrations
// (push_device.removed).
func (s *Server) apiRemovePushDevice(c echo.Context) error {
	if err := s.PushDevices.Remove(c.Request().Context(), principal(c), c.Param("id"), meta(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiUserPushDevices gives a notification service (identity.push_devices.read)
// a user's full tokens; the user is looked up in the principal's tenant.
func (s *Server) apiUserPushDevices(c echo.Context) error {
	list, err := s.PushDevices.ForUser(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, pushDeviceList(list, true))
}
