// Package models holds the plain data types shared by every layer: GORM row
// structs with no behaviour that touches I/O, and the one error type the JSON
// API renders. It imports nothing but the standard library.
package models
