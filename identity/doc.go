// Package identity holds the domain services: tenants, users and OAuth
// clients as administered objects, and password login. Each service method is
// one use case. It never sees HTTP or GORM: it speaks to storage through the
// small repository interfaces declared beside each service.
package identity
