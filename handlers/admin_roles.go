package handlers

import "github.com/labstack/echo/v4"

func (s *Server) roleRoutes(e *echo.Echo) {}
