package handlers

import (
	"archive/zip"
	"encoding/csv"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/xuri/excelize/v2"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// userExportColumns are the columns of a users export, in order: what an
// administrator sees of a user, never a hash or a secret.
var userExportColumns = []string{"id", "email", "name", "email_verified", "is_active", "locked", "locked_until",
	"two_factor", "two_factor_method", "force_password_change", "is_system_admin", "roles",
	"password_changed_at", "created_at", "updated_at"}

// mimeXLSX is the media type of an Office Open XML workbook.
const mimeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// userExportRow is one user as the export writes it: text, booleans and
// RFC 3339 times (empty when unset).
func (s *Server) userExportRow(u *models.User, roles []models.Role) []any {
	v := s.viewManagedUser(u, roles)
	names := make([]string, len(v.Roles))
	for i, r := range v.Roles {
		names[i] = r.Name
	}
	slices.Sort(names)
	return []any{v.ID, v.Email, v.Name, v.EmailVerified, v.IsActive, v.Locked, exportTime(v.LockedUntil),
		v.TwoFactorEnabled, v.TwoFactorMethod, v.ForcePasswordChange, v.IsSystemAdmin, strings.Join(names, "; "),
		exportTime(v.PasswordChangedAt), exportTime(&v.CreatedAt), exportTime(&v.UpdatedAt)}
}

func exportTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// csvRecord renders a row as CSV cells, formulas neutralised.
func csvRecord(row []any) []string {
	out := make([]string, len(row))
	for i, v := range row {
		switch v := v.(type) {
		case bool:
			out[i] = strconv.FormatBool(v)
		case string:
			out[i] = csvCell(v)
		}
	}
	return out
}

// apiExportUsers exports the tenant's users matching the listing's filters
// as CSV or XLSX. Users come from storage a page at a time: a CSV row is
// written as it is read (flushed every flushEvery rows); XLSX rows go to
// excelize's stream writer, which keeps at most 16 MiB in memory and
// spills the rest to a temporary file, and the workbook is zipped
// straight into the response once every row is in (a zip's sheet is one
// entry, so the first byte goes out after the last row is read). The
// export is audited by the service (user.exported, with the row count).
func (s *Server) apiExportUsers(c echo.Context) error {
	format := c.QueryParam("format")
	if format == "" {
		format = "csv"
	}
	if !slices.Contains(identity.UserExportFormats, format) {
		return models.ErrInvalid(map[string]string{"format": "Use csv or xlsx."})
	}
	fields := map[string]string{}
	q := userFilters(c, fields)
	if len(fields) > 0 {
		return models.ErrInvalid(fields)
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	// A large export may outlast the server's write timeout.
	_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Time{})
	name := exportFilename("users", a.TenantID, s.Now(), format)
	if format == "xlsx" {
		return s.exportUsersXLSX(c, a, q, name)
	}
	return s.exportUsersCSV(c, a, q, name)
}

func (s *Server) exportUsersCSV(c echo.Context, a identity.Actor, q identity.UserQuery, name string) error {
	ctx := c.Request().Context()
	w := c.Response()
	var (
		cw   *csv.Writer
		rows int
	)
	start := func() error {
		setAttachment(w.Header(), name)
		w.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		cw = csv.NewWriter(w)
		return cw.Write(userExportColumns)
	}
	n, err := s.Users.Export(ctx, a, q, "csv", func(u *models.User, roles []models.Role) error {
		if cw == nil {
			if err := start(); err != nil {
				return err
			}
		}
		if err := cw.Write(csvRecord(s.userExportRow(u, roles))); err != nil {
			return err
		}
		if rows++; rows%flushEvery == 0 {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
			w.Flush()
		}
		return nil
	})
	if err != nil {
		if cw != nil {
			// The status is sent: cut the body short and log the cause.
			cw.Flush()
			s.Logger.ErrorContext(ctx, "users export interrupted", "rows", n, "err", err)
			return nil
		}
		return err
	}
	if cw == nil {
		if err := start(); err != nil {
			return nil
		}
	}
	cw.Flush()
	w.Flush()
	return nil
}

func (s *Server) exportUsersXLSX(c echo.Context, a identity.Actor, q identity.UserQuery, name string) error {
	ctx := c.Request().Context()
	f := excelize.NewFile()
	defer func() { _ = f.Close() }() // removes the stream writer's temporary file
	const sheet = "Users"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	header := make([]any, len(userExportColumns))
	for i, col := range userExportColumns {
		header[i] = col
	}
	if err := sw.SetRow("A1", header); err != nil {
		return err
	}
	row := 1
	if _, err := s.Users.Export(ctx, a, q, "xlsx", func(u *models.User, roles []models.Role) error {
		row++
		cell, err := excelize.CoordinatesToCellName(1, row)
		if err != nil {
			return err
		}
		// Strings are written as text cells, never formulas, so an XLSX
		// needs no apostrophe: the cell shows what the user typed.
		return sw.SetRow(cell, s.userExportRow(u, roles))
	}); err != nil {
		return err
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	w := c.Response()
	setAttachment(w.Header(), name)
	w.Header().Set(echo.HeaderContentType, mimeXLSX)
	w.WriteHeader(http.StatusOK)
	// excelize's Write zips the workbook into a bytes.Buffer before copying
	// it out; its zip writer is pointed at the response instead, so the
	// archive is never held in memory (the buffer it is handed stays empty).
	f.SetZipWriter(func(io.Writer) excelize.ZipWriter { return zip.NewWriter(w) })
	if err := f.Write(io.Discard); err != nil {
		s.Logger.ErrorContext(ctx, "users export interrupted", "rows", row-1, "err", err)
	}
	return nil
}
