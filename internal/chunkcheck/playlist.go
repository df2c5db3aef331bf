package chunkcheck

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline/hls"
)

// output is one HLS presentation on disk.
type output struct {
	master string // path of the master playlist
	dir    string // its folder: URIs in it are relative to this
	m      *hls.Master
	rends  []*rend // the variants in order, then the EXT-X-MEDIA renditions with a URI
}

// rend is one media playlist of an output.
type rend struct {
	uri     string // as the master names it
	variant *hls.Variant
	file    string // the playlist's path
	segs    []seg
}

// seg is one media segment, its URI resolved to a file.
type seg struct {
	uri  string  // as the playlist has it, e.g. "../k3x7q2abcd/seg_00010.ts"
	path string  // the file
	init string  // the file of the EXT-X-MAP in force ("" for MPEG-TS)
	dur  float64 // EXTINF
	disc bool    // EXT-X-DISCONTINUITY before it
}

// masterPath turns an output folder or a master playlist's path into the
// master's path.
func masterPath(p string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return filepath.Join(p, job.MasterName), nil
	}
	return p, nil
}

// load reads an output's master playlist and every media playlist it
// names, resolving segment URIs (which may climb into sibling folders, as
// a chunked output's "../<attempt>/seg_00010.ts") to files.
func load(p string) (*output, error) {
	mp, err := masterPath(p)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(mp)
	if err != nil {
		return nil, err
	}
	m, err := hls.ParseMaster(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", mp, err)
	}
	o := &output{master: mp, dir: filepath.Dir(mp), m: m}
	for i := range m.Variants {
		o.rends = append(o.rends, &rend{uri: m.Variants[i].URI, variant: &m.Variants[i]})
	}
	for _, md := range m.Media {
		if md.URI != "" {
			o.rends = append(o.rends, &rend{uri: md.URI})
		}
	}
	if len(o.rends) == 0 {
		return nil, fmt.Errorf("%s names no media playlist", mp)
	}
	for _, r := range o.rends {
		if err := o.loadPlaylist(r); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// resolve maps a URI found in the playlist at base (a path relative to
// the output folder, slash-separated) to a file. Only relative URIs are
// followed.
func (o *output) resolve(base, uri string) (string, error) {
	if strings.Contains(uri, "://") || strings.HasPrefix(uri, "/") {
		return "", fmt.Errorf("URI %q is not relative", uri)
	}
	if i := strings.IndexAny(uri, "?#"); i >= 0 {
		uri = uri[:i]
	}
	return filepath.Join(o.dir, filepath.FromSlash(path.Join(base, uri))), nil
}

// loadPlaylist parses r's media playlist. It keeps the EXT-X-MAP in force
// for each segment (a chunked playlist may change it between chunks),
// which hls.ParseMedia does not.
func (o *output) loadPlaylist(r *rend) error {
	file, err := o.resolve(".", r.uri)
	if err != nil {
		return err
	}
	r.file = file
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if _, err := hls.ParseMedia(data); err != nil {
		return fmt.Errorf("%s: %w", r.uri, err)
	}
	base := path.Dir(r.uri)
	var cur seg
	init := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXTINF:"):
			d, _, _ := strings.Cut(strings.TrimPrefix(line, "#EXTINF:"), ",")
			if cur.dur, err = strconv.ParseFloat(strings.TrimSpace(d), 64); err != nil {
				return fmt.Errorf("%s: %q: %w", r.uri, line, err)
			}
		case line == "#EXT-X-DISCONTINUITY":
			cur.disc = true
		case strings.HasPrefix(line, "#EXT-X-MAP:"):
			uri := attr(strings.TrimPrefix(line, "#EXT-X-MAP:"), "URI")
			if init, err = o.resolve(base, uri); err != nil {
				return fmt.Errorf("%s: EXT-X-MAP: %w", r.uri, err)
			}
		case strings.HasPrefix(line, "#"):
		default:
			cur.uri, cur.init = line, init
			if cur.path, err = o.resolve(base, line); err != nil {
				return fmt.Errorf("%s: %w", r.uri, err)
			}
			r.segs = append(r.segs, cur)
			cur = seg{}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", r.uri, err)
	}
	if len(r.segs) == 0 {
		return fmt.Errorf("%s: no segments", r.uri)
	}
	return nil
}

// attr returns the value of attribute key in an attribute list such as
// URI="init.mp4",BYTERANGE="..." ("" when absent).
func attr(list, key string) string {
	for list != "" {
		k, rest, ok := strings.Cut(list, "=")
		if !ok {
			return ""
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return ""
			}
			v, rest = rest[1:1+end], rest[2+end:]
		} else {
			v, rest, _ = strings.Cut(rest, ",")
		}
		if strings.TrimSpace(k) == key {
			return v
		}
		list = strings.TrimPrefix(rest, ",")
	}
	return ""
}

// start returns when segment i starts: the sum of the EXTINFs before it.
func (r *rend) start(i int) float64 {
	t := 0.0
	for _, s := range r.segs[:i] {
		t += s.dur
	}
	return t
}

// attemptJoins returns the times (on the presentation's timeline: the sum
// of EXTINFs) of the segments of r whose folder differs from the previous
// segment's: where a chunked output's chunks meet, each chunk's segments
// being in the folder of the attempt that wrote them.
func attemptJoins(r *rend) []float64 {
	var joins []float64
	for i := 1; i < len(r.segs); i++ {
		if filepath.Dir(r.segs[i].path) != filepath.Dir(r.segs[i-1].path) {
			joins = append(joins, r.start(i))
		}
	}
	return joins
}

// PlanJoins returns where the chunks of plan meet, in seconds from the
// start of the presentation: every chunk's start but the first's.
func PlanJoins(plan job.ChunkPlan) []float64 {
	var joins []float64
	for _, c := range plan.Chunks {
		if c.Index > 0 || c.Start > 0 {
			joins = append(joins, c.Start)
		}
	}
	return joins
}

// name is how a report calls a rendition: the first folder of its URI
// ("720p" of "720p/k3x7q2abcd/index.m3u8"), else the URI.
func name(uri string) string {
	if first, _, ok := strings.Cut(uri, "/"); ok && first != "" && first != ".." && first != "." {
		return first
	}
	return uri
}
