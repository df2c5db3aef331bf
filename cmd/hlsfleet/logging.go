package main

import (
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// isTerminal reports whether f is a character device (a TTY).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// newLogger logs JSON lines to stderr, or readable lines on a terminal.
func newLogger(level string) *zap.Logger {
	lvl := zapcore.InfoLevel
	_ = lvl.Set(level)
	var enc zapcore.Encoder
	if isTerminal(os.Stderr) {
		cfg := zap.NewDevelopmentEncoderConfig()
		enc = zapcore.NewConsoleEncoder(cfg)
	} else {
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(os.Stderr), lvl))
}
