package handlers

import "github.com/labstack/echo/v4"

func (s *Server) auditRoutes(e *echo.Echo) {}
