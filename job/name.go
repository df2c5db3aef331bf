package job

import "strings"

// SafeName makes a file name or stem into a name for an output folder or a
// source key: letters, digits, '-', '_' and '.' stay, every other character
// becomes '_', and a name that would be empty or start with '.' gets
// "media" in front. The inbox of `hlsfleet local` and the dashboard's
// uploads both name their jobs' files with it.
func SafeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if out := b.String(); out != "" && out[0] != '.' {
		return out
	}
	return "media" + b.String()
}

// CheckStreamName returns why name cannot be a live stream's name, or ""
// when it can: the rule Validate applies to a live-segment job's
// live.stream (letters, digits, '-', '_' and '.', at most 64 bytes, not
// starting with '.' or '-').
func CheckStreamName(name string) string { return checkName(name) }
