package hls

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// line is one non-blank line of a playlist with its 1-based number.
type line struct {
	n    int
	text string
}

// lines splits a playlist into trimmed, non-blank lines (LF or CRLF) and
// checks that the first one is #EXTM3U.
func lines(data []byte) ([]line, error) {
	s := strings.TrimPrefix(string(data), "\uFEFF")
	var out []line
	for i, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l != "" {
			out = append(out, line{n: i + 1, text: l})
		}
	}
	if len(out) == 0 || out[0].text != "#EXTM3U" {
		return nil, fmt.Errorf("%w: first line is not #EXTM3U", ErrParse)
	}
	return out[1:], nil
}

// parseError wraps ErrParse with the line it concerns.
func parseError(l line, format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrParse, l.n, fmt.Sprintf(format, args...))
}

// tag splits "#EXT-X-NAME:value" into name and value.
func tag(text string) (name, value string) {
	name, value, _ = strings.Cut(text, ":")
	return name, value
}

// parseAttrs parses an attribute list (RFC 8216 4.2). Quoted values are
// returned without their quotes.
func parseAttrs(l line, s string) (map[string]string, error) {
	m := make(map[string]string)
	for len(s) > 0 {
		key, rest, ok := strings.Cut(s, "=")
		if !ok || key == "" {
			return nil, parseError(l, "attribute without a value in %q", s)
		}
		key = strings.TrimSpace(key)
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return nil, parseError(l, "unterminated quoted string for %s", key)
			}
			val, rest = rest[1:1+end], rest[2+end:]
			if rest != "" && !strings.HasPrefix(rest, ",") {
				return nil, parseError(l, "junk after quoted value of %s", key)
			}
		} else {
			if i := strings.IndexByte(rest, ','); i >= 0 {
				val, rest = rest[:i], rest[i:]
			} else {
				val, rest = rest, ""
			}
		}
		if _, dup := m[key]; dup {
			return nil, parseError(l, "attribute %s appears twice", key)
		}
		m[key] = val
		s = strings.TrimPrefix(rest, ",")
	}
	return m, nil
}

func parseInt(l line, what, s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, parseError(l, "bad %s %q", what, s)
	}
	return v, nil
}

func parseFloat(l line, what, s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return 0, parseError(l, "bad %s %q", what, s)
	}
	return v, nil
}

func parseYesNo(l line, what, s string) (bool, error) {
	switch s {
	case "YES":
		return true, nil
	case "NO", "":
		return false, nil
	}
	return false, parseError(l, "bad %s %q", what, s)
}

// ParseMaster parses a master playlist. It accepts LF and CRLF line ends and
// skips unknown tags and comments. Every error wraps ErrParse.
func ParseMaster(data []byte) (*Master, error) {
	ls, err := lines(data)
	if err != nil {
		return nil, err
	}
	m := &Master{}
	var pending *Variant
	for _, l := range ls {
		if !strings.HasPrefix(l.text, "#") {
			if pending == nil {
				return nil, parseError(l, "URI %q without EXT-X-STREAM-INF", l.text)
			}
			pending.URI = l.text
			m.Variants = append(m.Variants, *pending)
			pending = nil
			continue
		}
		name, value := tag(l.text)
		switch name {
		case "#EXT-X-VERSION":
			v, err := parseInt(l, "EXT-X-VERSION", value)
			if err != nil {
				return nil, err
			}
			m.Version = int(v)
		case "#EXT-X-INDEPENDENT-SEGMENTS":
			m.IndependentSegments = true
		case "#EXTINF", "#EXT-X-TARGETDURATION":
			return nil, parseError(l, "%s in a master playlist (this is a media playlist)", name)
		case "#EXT-X-MEDIA":
			md, err := parseMedia(l, value)
			if err != nil {
				return nil, err
			}
			m.Media = append(m.Media, md)
		case "#EXT-X-STREAM-INF":
			if pending != nil {
				return nil, parseError(l, "EXT-X-STREAM-INF without a URI line before it")
			}
			v, err := parseVariant(l, value)
			if err != nil {
				return nil, err
			}
			pending = &v
		}
	}
	if pending != nil {
		return nil, fmt.Errorf("%w: last EXT-X-STREAM-INF has no URI line", ErrParse)
	}
	return m, nil
}

func parseMedia(l line, value string) (Media, error) {
	a, err := parseAttrs(l, value)
	if err != nil {
		return Media{}, err
	}
	md := Media{
		Type: a["TYPE"], GroupID: a["GROUP-ID"], Name: a["NAME"],
		Language: a["LANGUAGE"], URI: a["URI"], Channels: a["CHANNELS"],
	}
	if md.Type == "" || md.GroupID == "" || md.Name == "" {
		return Media{}, parseError(l, "EXT-X-MEDIA needs TYPE, GROUP-ID and NAME")
	}
	if md.Default, err = parseYesNo(l, "DEFAULT", a["DEFAULT"]); err != nil {
		return Media{}, err
	}
	if md.AutoSelect, err = parseYesNo(l, "AUTOSELECT", a["AUTOSELECT"]); err != nil {
		return Media{}, err
	}
	return md, nil
}

func parseVariant(l line, value string) (Variant, error) {
	a, err := parseAttrs(l, value)
	if err != nil {
		return Variant{}, err
	}
	var v Variant
	bw, ok := a["BANDWIDTH"]
	if !ok {
		return Variant{}, parseError(l, "EXT-X-STREAM-INF without BANDWIDTH")
	}
	if v.Bandwidth, err = parseInt(l, "BANDWIDTH", bw); err != nil {
		return Variant{}, err
	}
	if s, ok := a["AVERAGE-BANDWIDTH"]; ok {
		if v.AverageBandwidth, err = parseInt(l, "AVERAGE-BANDWIDTH", s); err != nil {
			return Variant{}, err
		}
	}
	if s := a["CODECS"]; s != "" {
		for _, c := range strings.Split(s, ",") {
			v.Codecs = append(v.Codecs, strings.TrimSpace(c))
		}
	}
	if s, ok := a["RESOLUTION"]; ok {
		ws, hs, found := strings.Cut(s, "x")
		w, err1 := strconv.Atoi(ws)
		h, err2 := strconv.Atoi(hs)
		if !found || err1 != nil || err2 != nil || w <= 0 || h <= 0 {
			return Variant{}, parseError(l, "bad RESOLUTION %q", s)
		}
		v.Width, v.Height = w, h
	}
	if s, ok := a["FRAME-RATE"]; ok {
		if v.FrameRate, err = parseFloat(l, "FRAME-RATE", s); err != nil {
			return Variant{}, err
		}
	}
	v.Audio = a["AUDIO"]
	return v, nil
}

// ParseMedia parses a media playlist. It accepts LF and CRLF line ends and
// skips unknown tags and comments. Every error wraps ErrParse.
func ParseMedia(data []byte) (*MediaPlaylist, error) {
	ls, err := lines(data)
	if err != nil {
		return nil, err
	}
	p := &MediaPlaylist{}
	var seg Segment
	haveInf := false
	for _, l := range ls {
		if !strings.HasPrefix(l.text, "#") {
			if !haveInf {
				return nil, parseError(l, "segment %q without EXTINF", l.text)
			}
			seg.URI = l.text
			p.Segments = append(p.Segments, seg)
			seg, haveInf = Segment{}, false
			continue
		}
		name, value := tag(l.text)
		switch name {
		case "#EXT-X-DISCONTINUITY", "#EXT-X-PROGRAM-DATE-TIME", "#EXTINF":
			if err := parseSegmentTag(&seg, l, name, value); err != nil {
				return nil, err
			}
			if name == "#EXTINF" {
				haveInf = true
			}
		case "#EXT-X-MAP":
			uri, err := parseMap(l, value)
			if err != nil {
				return nil, err
			}
			// The first map before any segment is the playlist's; a later
			// one starts a new initialization section from the next segment.
			if len(p.Segments) == 0 && p.MapURI == "" {
				p.MapURI = uri
			} else {
				seg.MapURI = uri
			}
		default:
			if err := parsePlaylistTag(p, l, name, value); err != nil {
				return nil, err
			}
		}
	}
	if haveInf {
		return nil, fmt.Errorf("%w: last EXTINF has no URI line", ErrParse)
	}
	return p, nil
}

// parsePlaylistTag applies a tag about the whole media playlist to p;
// unknown tags are skipped.
func parsePlaylistTag(p *MediaPlaylist, l line, name, value string) error {
	var err error
	switch name {
	case "#EXT-X-STREAM-INF":
		return parseError(l, "EXT-X-STREAM-INF in a media playlist (this is a master playlist)")
	case "#EXT-X-VERSION":
		v, err := parseInt(l, "EXT-X-VERSION", value)
		if err != nil {
			return err
		}
		p.Version = int(v)
	case "#EXT-X-TARGETDURATION":
		v, err := parseInt(l, "EXT-X-TARGETDURATION", value)
		if err != nil {
			return err
		}
		p.TargetDuration = int(v)
	case "#EXT-X-MEDIA-SEQUENCE":
		if p.MediaSequence, err = parseInt(l, "EXT-X-MEDIA-SEQUENCE", value); err != nil {
			return err
		}
	case "#EXT-X-DISCONTINUITY-SEQUENCE":
		if p.DiscontinuitySequence, err = parseInt(l, "EXT-X-DISCONTINUITY-SEQUENCE", value); err != nil {
			return err
		}
	case "#EXT-X-PLAYLIST-TYPE":
		switch t := PlaylistType(value); t {
		case VOD, Event:
			p.Type = t
		default:
			return parseError(l, "bad EXT-X-PLAYLIST-TYPE %q", value)
		}
	case "#EXT-X-INDEPENDENT-SEGMENTS":
		p.IndependentSegments = true
	case "#EXT-X-ENDLIST":
		p.EndList = true
	}
	return nil
}

// parseMap returns the URI of an EXT-X-MAP tag.
func parseMap(l line, value string) (string, error) {
	a, err := parseAttrs(l, value)
	if err != nil {
		return "", err
	}
	if a["URI"] == "" {
		return "", parseError(l, "EXT-X-MAP without URI")
	}
	return a["URI"], nil
}

// parseSegmentTag applies a tag about the next segment (EXTINF,
// EXT-X-DISCONTINUITY, EXT-X-PROGRAM-DATE-TIME) to seg.
func parseSegmentTag(seg *Segment, l line, name, value string) error {
	var err error
	switch name {
	case "#EXT-X-DISCONTINUITY":
		seg.Discontinuity = true
	case "#EXT-X-PROGRAM-DATE-TIME":
		t, err := time.Parse(time.RFC3339Nano, value)
		if err != nil {
			return parseError(l, "bad EXT-X-PROGRAM-DATE-TIME %q", value)
		}
		seg.ProgramDateTime = t
	case "#EXTINF":
		d, _, _ := strings.Cut(value, ",")
		if seg.Duration, err = parseFloat(l, "EXTINF duration", strings.TrimSpace(d)); err != nil {
			return err
		}
	}
	return nil
}
