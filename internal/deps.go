// Package internal holds test and benchmark helpers shared across packages.
package internal

// Imports pinned here so go.mod keeps the dependencies the packages below use
// while they are being written.
import (
	_ "github.com/asticode/go-astiav"
	_ "go.uber.org/zap"
	_ "gopkg.in/yaml.v3"
)
