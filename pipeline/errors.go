package pipeline

import (
	"errors"
	"fmt"

	"github.com/hlsfleet/hlsfleet/fault"
)

// ErrInput marks a failure caused by the input itself: unreadable, corrupt,
// unsupported or over a limit. Retrying cannot help. Every more specific
// input error below wraps it, so callers decide with errors.Is(err, ErrInput).
var ErrInput = fault.New(fault.Input, "input is at fault")

// Specific input faults. Each is also ErrInput.
var (
	ErrEmpty       = inputKind("input is empty")
	ErrNotMedia    = inputKind("input is not a media file")
	ErrNoStream    = inputKind("input has no decodable audio or video stream")
	ErrTooLarge    = inputKind("input frame size is over the limit")
	ErrTooLong     = inputKind("input duration is over the limit")
	ErrCorrupt     = inputKind("input is corrupt")
	ErrTruncated   = inputKind("input is truncated")
	ErrUnsupported = inputKind("input uses an unsupported feature")
)

// ErrCanceled is returned when the context given to Transcode ends first.
var ErrCanceled = errors.New("transcode canceled")

func inputKind(msg string) error { return fault.Under(ErrInput, msg) }

// inputErr wraps a specific input fault with the detail a user can act on.
func inputErr(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}
