package pipeline

import (
	"strings"
	"sync/atomic"

	"github.com/asticode/go-astiav"
	"go.uber.org/zap"
)

// libavLogger receives libav's own messages (errors only), so they become
// structured log lines instead of raw text on stderr.
var libavLogger atomic.Pointer[zap.Logger]

func init() {
	libavLogger.Store(zap.NewNop())
	astiav.SetLogLevel(astiav.LogLevelError)
	astiav.SetLogCallback(func(c astiav.Classer, l astiav.LogLevel, _, msg string) {
		msg = strings.TrimSpace(msg)
		if msg == "" || l > astiav.LogLevelError {
			return
		}
		src := ""
		if c != nil {
			if cl := c.Class(); cl != nil {
				src = cl.Name()
			}
		}
		libavLogger.Load().Warn("libav", zap.String("source", src), zap.String("message", msg))
	})
}

// setLibavLogger routes libav messages to log (process-wide).
func setLibavLogger(log *zap.Logger) {
	if log != nil {
		libavLogger.Store(log)
	}
}
