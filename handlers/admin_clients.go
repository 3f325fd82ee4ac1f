package handlers

import "github.com/labstack/echo/v4"

func (s *Server) clientRoutes(e *echo.Echo) {}
