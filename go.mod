module github.com/hlsfleet/hlsfleet

go 1.26.8

require (
	github.com/asticode/go-astiav v0.16.0
	go.uber.org/zap v1.28.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/asticode/go-astikit v0.42.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
)
