// Package hls is a pure-Go model of HLS playlists (RFC 8216 and its
// second-edition draft): master and media playlists, a writer, a tolerant
// parser, the live sliding window, and the codec strings (avc1, hvc1, mp4a)
// that the master's CODECS attribute carries.
//
// The package imports nothing of ours and nothing outside the standard
// library, so both the transcoding pipeline and the validators can use it.
package hls

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrParse is wrapped by every error that ParseMaster and ParseMedia return.
var ErrParse = errors.New("hls: malformed playlist")

// Variant is one EXT-X-STREAM-INF entry of a master playlist.
type Variant struct {
	URI string
	// Bandwidth is the peak segment bit rate in bits per second;
	// AverageBandwidth the average one, 0 meaning "omit the attribute".
	Bandwidth, AverageBandwidth int64
	// Codecs is written as CODECS="a,b".
	Codecs []string
	// Width and Height form RESOLUTION; 0 omits it.
	Width, Height int
	// FrameRate is written with 3 decimals; 0 omits it.
	FrameRate float64
	// Audio is the GROUP-ID of the EXT-X-MEDIA audio group, "" for none.
	Audio string
}

// Media is one EXT-X-MEDIA entry of a master playlist (an alternative
// rendition such as a separate audio track).
type Media struct {
	Type     string // AUDIO, VIDEO, SUBTITLES or CLOSED-CAPTIONS
	GroupID  string
	Name     string
	Language string // "" omits it
	URI      string // "" omits it
	Channels string // "" omits it, e.g. "2"
	Default  bool
	// AutoSelect must be true when Default is (RFC 8216 4.3.4.1).
	AutoSelect bool
}

// Master is a master (multivariant) playlist.
type Master struct {
	Version             int // 0 omits EXT-X-VERSION
	IndependentSegments bool
	Media               []Media
	Variants            []Variant
}

// Segment is one media segment of a media playlist.
type Segment struct {
	URI      string
	Duration float64 // seconds, written with 3 decimals
	// Discontinuity writes EXT-X-DISCONTINUITY before the segment.
	Discontinuity bool
	// ProgramDateTime writes EXT-X-PROGRAM-DATE-TIME; the zero time omits it.
	ProgramDateTime time.Time
	// MapURI writes EXT-X-MAP:URI="..." before the segment: the
	// initialization section of this segment and the ones after it, until
	// the next segment with a MapURI (RFC 8216 4.3.2.5). "" keeps the
	// current one (MediaPlaylist.MapURI before the first). A MapURI on the
	// first segment is written the way MediaPlaylist.MapURI is, so
	// ParseMedia reads it back as the playlist's.
	MapURI string
}

// PlaylistType is the value of EXT-X-PLAYLIST-TYPE.
type PlaylistType string

// Playlist types; Live writes no EXT-X-PLAYLIST-TYPE tag.
const (
	VOD   PlaylistType = "VOD"
	Event PlaylistType = "EVENT"
	Live  PlaylistType = ""
)

// MediaPlaylist is a media playlist: the segments of one rendition.
type MediaPlaylist struct {
	// Version 0 is computed on Encode: 3 (decimal EXTINF), or 6 when MapURI
	// or a segment's MapURI is set (EXT-X-MAP in a playlist without
	// EXT-X-I-FRAMES-ONLY needs version 6, RFC 8216 section 7).
	Version int
	// TargetDuration 0 is computed on Encode by TargetDuration(Segments).
	TargetDuration        int
	MediaSequence         int64
	DiscontinuitySequence int64
	Type                  PlaylistType
	IndependentSegments   bool
	// MapURI writes EXT-X-MAP:URI="..." (the fMP4 initialization section).
	MapURI   string
	Segments []Segment
	EndList  bool
}

// pdtLayout is the EXT-X-PROGRAM-DATE-TIME format: ISO 8601 with milliseconds.
const pdtLayout = "2006-01-02T15:04:05.000Z07:00"

// formatDecimal writes f with exactly three decimals.
func formatDecimal(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) }

// roundedDuration is the integer an EXTINF rounds to, computed from the
// three-decimal value actually written, so that writer and reader agree.
func roundedDuration(d float64) int {
	return int(math.Round(math.Round(d*1000) / 1000))
}

// TargetDuration is the EXT-X-TARGETDURATION that bounds segs: the smallest
// integer that is at least every EXTINF rounded to the nearest integer
// (RFC 8216 4.3.3.1), and at least 1.
func TargetDuration(segs []Segment) int {
	t := 1
	for _, s := range segs {
		if r := roundedDuration(s.Duration); r > t {
			t = r
		}
	}
	return t
}

// quote writes a quoted-string attribute value. Quoted strings cannot hold
// '"' or line breaks (RFC 8216 4.2), so those are dropped.
func quote(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '"' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	return `"` + s + `"`
}

// attrs builds an attribute list in the order attributes are added.
type attrs struct{ b strings.Builder }

func (a *attrs) add(key, value string) {
	if a.b.Len() > 0 {
		a.b.WriteByte(',')
	}
	a.b.WriteString(key)
	a.b.WriteByte('=')
	a.b.WriteString(value)
}

func (a *attrs) String() string { return a.b.String() }

// Encode writes the master playlist.
func (m *Master) Encode() []byte {
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n")
	if m.Version > 0 {
		b.WriteString("#EXT-X-VERSION:" + strconv.Itoa(m.Version) + "\n")
	}
	if m.IndependentSegments {
		b.WriteString("#EXT-X-INDEPENDENT-SEGMENTS\n")
	}
	for _, md := range m.Media {
		var a attrs
		a.add("TYPE", md.Type)
		a.add("GROUP-ID", quote(md.GroupID))
		a.add("NAME", quote(md.Name))
		if md.Language != "" {
			a.add("LANGUAGE", quote(md.Language))
		}
		if md.Default {
			a.add("DEFAULT", "YES")
		}
		if md.AutoSelect {
			a.add("AUTOSELECT", "YES")
		}
		if md.Channels != "" {
			a.add("CHANNELS", quote(md.Channels))
		}
		if md.URI != "" {
			a.add("URI", quote(md.URI))
		}
		b.WriteString("#EXT-X-MEDIA:" + a.String() + "\n")
	}
	for _, v := range m.Variants {
		var a attrs
		a.add("BANDWIDTH", strconv.FormatInt(v.Bandwidth, 10))
		if v.AverageBandwidth > 0 {
			a.add("AVERAGE-BANDWIDTH", strconv.FormatInt(v.AverageBandwidth, 10))
		}
		if len(v.Codecs) > 0 {
			a.add("CODECS", quote(strings.Join(v.Codecs, ",")))
		}
		if v.Width > 0 && v.Height > 0 {
			a.add("RESOLUTION", strconv.Itoa(v.Width)+"x"+strconv.Itoa(v.Height))
		}
		if v.FrameRate > 0 {
			a.add("FRAME-RATE", formatDecimal(v.FrameRate))
		}
		if v.Audio != "" {
			a.add("AUDIO", quote(v.Audio))
		}
		b.WriteString("#EXT-X-STREAM-INF:" + a.String() + "\n")
		b.WriteString(v.URI + "\n")
	}
	return b.Bytes()
}

// Encode writes the media playlist, computing Version and TargetDuration
// when they are 0.
func (p *MediaPlaylist) Encode() []byte {
	var b bytes.Buffer
	version := p.Version
	if version == 0 {
		version = 3
		if p.hasMap() {
			version = 6
		}
	}
	target := p.TargetDuration
	if target == 0 {
		target = TargetDuration(p.Segments)
	}
	b.WriteString("#EXTM3U\n")
	b.WriteString("#EXT-X-VERSION:" + strconv.Itoa(version) + "\n")
	b.WriteString("#EXT-X-TARGETDURATION:" + strconv.Itoa(target) + "\n")
	b.WriteString("#EXT-X-MEDIA-SEQUENCE:" + strconv.FormatInt(p.MediaSequence, 10) + "\n")
	if p.DiscontinuitySequence != 0 {
		b.WriteString("#EXT-X-DISCONTINUITY-SEQUENCE:" + strconv.FormatInt(p.DiscontinuitySequence, 10) + "\n")
	}
	if p.Type != Live {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:" + string(p.Type) + "\n")
	}
	if p.IndependentSegments {
		b.WriteString("#EXT-X-INDEPENDENT-SEGMENTS\n")
	}
	if p.MapURI != "" {
		b.WriteString("#EXT-X-MAP:URI=" + quote(p.MapURI) + "\n")
	}
	for _, s := range p.Segments {
		if s.Discontinuity {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if s.MapURI != "" {
			b.WriteString("#EXT-X-MAP:URI=" + quote(s.MapURI) + "\n")
		}
		if !s.ProgramDateTime.IsZero() {
			b.WriteString("#EXT-X-PROGRAM-DATE-TIME:" + s.ProgramDateTime.Format(pdtLayout) + "\n")
		}
		b.WriteString("#EXTINF:" + formatDecimal(s.Duration) + ",\n")
		b.WriteString(s.URI + "\n")
	}
	if p.EndList {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.Bytes()
}

// hasMap reports whether the playlist names an initialization section.
func (p *MediaPlaylist) hasMap() bool {
	if p.MapURI != "" {
		return true
	}
	for _, s := range p.Segments {
		if s.MapURI != "" {
			return true
		}
	}
	return false
}

// AppendWindow appends s and, for a live sliding window of window segments
// (0 keeps all), drops segments from the front. Each dropped segment
// advances MediaSequence; each dropped EXT-X-DISCONTINUITY advances
// DiscontinuitySequence (RFC 8216 6.2.1), so the sequence numbers of the
// segments that remain do not change.
func (p *MediaPlaylist) AppendWindow(s Segment, window int) {
	p.Segments = append(p.Segments, s)
	if window <= 0 || len(p.Segments) <= window {
		return
	}
	drop := len(p.Segments) - window
	for _, d := range p.Segments[:drop] {
		p.MediaSequence++
		if d.Discontinuity {
			p.DiscontinuitySequence++
		}
	}
	p.Segments = append(p.Segments[:0:0], p.Segments[drop:]...)
}
