package job

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// URL schemes a job's source and output may use.
const (
	SchemeS3   = "s3"
	SchemeFile = "file"
)

// Location is a parsed source or output URL.
type Location struct {
	// Scheme is SchemeS3 or SchemeFile.
	Scheme string
	// Bucket is the S3 bucket; empty for file URLs.
	Bucket string
	// Path is, for s3, the object key or key prefix, verbatim and without a
	// leading '/' (empty for the bucket's root); for file, the absolute path.
	Path string
}

// String returns l as a URL: s3://bucket/key or file:///abs/path.
func (l Location) String() string {
	if l.Scheme == SchemeS3 {
		return "s3://" + l.Bucket + "/" + l.Path
	}
	return l.Scheme + "://" + l.Path
}

// ParseLocation parses a source or output URL. Accepted are
// s3://bucket/key (the bucket is required; the key may be empty, must not
// start with '/') and file:///abs/path (an empty host, an absolute path). The
// key or path is taken verbatim, never percent-decoded. Neither may hold a
// ".." segment, control characters or invalid UTF-8. Errors wrap ErrInvalid.
func ParseLocation(raw string) (Location, error) {
	l, why := parseLocation(raw)
	if why != "" {
		return Location{}, invalid("URL %q: %s", raw, why)
	}
	return l, nil
}

// parseLocation parses raw and returns why it is not a valid URL, or "".
func parseLocation(raw string) (Location, string) {
	if !utf8.ValidString(raw) {
		return Location{}, "is not valid UTF-8"
	}
	for _, r := range raw {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			// Bidi controls (U+202E ...) make a name read other than it is.
			return Location{}, fmt.Sprintf("holds the control character %U", r)
		}
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Location{}, "is not a URL: use s3://bucket/key or file:///abs/path"
	}
	switch scheme {
	case SchemeS3:
		bucket, key, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return Location{}, "needs a bucket (s3://bucket/key)"
		}
		if why := checkBucket(bucket); why != "" {
			return Location{}, fmt.Sprintf("bucket %q %s", bucket, why)
		}
		if strings.HasPrefix(key, "/") {
			return Location{}, "the key starts with '/' (write s3://bucket/key, not s3://bucket//key)"
		}
		if hasDotDot(key) {
			return Location{}, "the key has a \"..\" segment"
		}
		return Location{Scheme: SchemeS3, Bucket: bucket, Path: key}, ""
	case SchemeFile:
		if !strings.HasPrefix(rest, "/") {
			return Location{}, "needs an absolute path (file:///abs/path; a host is not allowed)"
		}
		if hasDotDot(rest) {
			return Location{}, "the path has a \"..\" segment"
		}
		return Location{Scheme: SchemeFile, Path: rest}, ""
	default:
		return Location{}, fmt.Sprintf("scheme %q is not supported (only s3:// and file://)", scheme)
	}
}

// checkBucket returns why b cannot be an S3 bucket name, or "". It accepts
// the legacy names some old buckets still have (upper case, '_', up to 255
// characters), not only today's rules.
func checkBucket(b string) string {
	if len(b) > 255 {
		return "is longer than 255 characters"
	}
	if !nameChars(b) {
		return "may hold only letters, digits, '-', '_' and '.'"
	}
	return ""
}

// hasDotDot reports whether p has a ".." segment.
func hasDotDot(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == ".." {
			return true
		}
	}
	return false
}
