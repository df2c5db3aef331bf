package pipeline

// Publish, the last step: once every segment is written, the media
// playlists, the extras, the poster, and master.m3u8 last.

import (
	"fmt"
	"math"

	"github.com/hlsfleet/hlsfleet/pipeline/hls"
)

// publish writes the media playlists, the extras, the poster and then the
// master. The names in the Result and the master's URIs are the names
// stored (Options.ObjectName).
func (t *transcode) publish() (*Result, error) {
	res := &Result{
		Master: MasterName, SegmentType: t.opt.SegmentType, SegmentSeconds: t.opt.Ladder.SegmentSeconds,
		Input: t.in.info, Duration: math.Max(t.videoEnd, t.audioEnd),
	}
	if t.route.Name != "" {
		t.noteFallbacks()
		res.Accel = &t.route
	}
	media, err := t.publishAudio(res)
	if err != nil {
		return nil, err
	}
	kept, err := t.qualityGate(res)
	if err != nil {
		return nil, err
	}
	if err := t.publishVideo(kept, res); err != nil {
		return nil, err
	}
	master, err := masterPlaylist(t.opt.SegmentType, res, media)
	if err != nil {
		return nil, err
	}
	if err := t.finishExtras(res); err != nil {
		return nil, err
	}
	if t.posterBytes != nil {
		if err := writeFile(t.sink, PosterName, t.posterBytes); err != nil {
			return nil, err
		}
		res.Poster = t.objectName(PosterName)
	}
	if err := writeFile(t.sink, MasterName, master.Encode()); err != nil {
		return nil, err
	}
	t.removeDropped()
	return res, nil
}

// publishAudio writes the audio-only playlists into res.Audio and, when
// there are several, returns their EXT-X-MEDIA entries (the group "audio").
func (t *transcode) publishAudio(res *Result) ([]hls.Media, error) {
	var media []hls.Media
	for i, s := range t.audioSeg {
		rr, err := t.writePlaylist(s, []string{hls.AACLC})
		if err != nil {
			return nil, err
		}
		res.Audio = append(res.Audio, rr)
		if len(t.audioSeg) > 1 { // a lone audio playlist is the variant itself
			media = append(media, audioMedia(i, t.in.info.Audio[i].Language, t.opt.Ladder.Audio.Channels, rr.Playlist))
		}
	}
	return media, nil
}

// audioMedia is the EXT-X-MEDIA entry of audio track i, named after its
// language ("Track N" without one); the first track is the default.
func audioMedia(i int, language string, channels int, uri string) hls.Media {
	name := language
	if name == "" || name == "und" {
		name = fmt.Sprintf("Track %d", i+1)
	}
	lang := language
	if lang == "und" {
		lang = ""
	}
	return hls.Media{
		Type: "AUDIO", GroupID: "audio", Name: name, Language: lang, URI: uri,
		Channels: fmt.Sprint(channels), Default: i == 0, AutoSelect: true,
	}
}

// publishVideo writes the media playlist of every rendition kept into
// res.Renditions.
func (t *transcode) publishVideo(kept []*renditionWorker, res *Result) error {
	for _, w := range kept {
		codecs := []string{w.seg.videoCodec}
		if w.seg.videoCodec == "" {
			return fmt.Errorf("rendition %s: could not read the encoder's codec parameters", w.out.Name)
		}
		if len(t.audios) > 0 {
			codecs = append(codecs, hls.AACLC)
		}
		rr, err := t.writePlaylist(w.seg, codecs)
		if err != nil {
			return err
		}
		rr.Width, rr.Height, rr.FrameRate = w.out.Width, w.out.Height, w.out.FPS.Float()
		res.Renditions = append(res.Renditions, rr)
	}
	return nil
}

// masterPlaylist is the master over the media playlists res lists, in
// order: a variant per video rendition, which carries the audio group's
// highest peak and average bandwidth on top of its own when media (the
// EXT-X-MEDIA group "audio") is not empty; with no video, the first audio
// playlist is the variant. Version 3 for MPEG-TS, 6 for fMP4 (EXT-X-MAP).
func masterPlaylist(typ SegmentType, res *Result, media []hls.Media) (*hls.Master, error) {
	version := 3
	if typ == SegmentFMP4 {
		version = 6
	}
	master := &hls.Master{Version: version, IndependentSegments: true, Media: media}
	var audioPeak, audioAvg int64
	for _, a := range res.Audio {
		audioPeak, audioAvg = max(audioPeak, a.Bandwidth), max(audioAvg, a.AverageBandwidth)
	}
	for _, rr := range res.Renditions {
		v := hls.Variant{
			URI: rr.Playlist, Bandwidth: rr.Bandwidth, AverageBandwidth: rr.AverageBandwidth, Codecs: rr.Codecs,
			Width: rr.Width, Height: rr.Height, FrameRate: math.Round(rr.FrameRate*1000) / 1000,
		}
		if len(media) > 0 {
			v.Audio = "audio"
			v.Bandwidth += audioPeak
			v.AverageBandwidth += audioAvg
		}
		master.Variants = append(master.Variants, v)
	}
	if len(res.Renditions) == 0 && len(res.Audio) > 0 {
		a := res.Audio[0]
		v := hls.Variant{URI: a.Playlist, Bandwidth: a.Bandwidth, AverageBandwidth: a.AverageBandwidth, Codecs: a.Codecs}
		if len(media) > 0 {
			v.Audio = "audio"
		}
		master.Variants = append(master.Variants, v)
	}
	if len(master.Variants) == 0 {
		return nil, inputErr(ErrNoStream, "nothing could be encoded")
	}
	return master, nil
}

func (t *transcode) writePlaylist(s *segmenter, codecs []string) (RenditionResult, error) {
	return publishPlaylist(t.sink, s.dir, s.playlist(), s.sizes, s.initSize, codecs)
}

// publishPlaylist writes pl, the media playlist of rendition dir, through
// sink as dir/index.m3u8 and describes it: sizes are its segments' bytes,
// initBytes those of its initialization sections (fMP4), which count in
// Bytes but not in the bandwidths.
func publishPlaylist(sink Sink, dir string, pl *hls.MediaPlaylist, sizes []int64, initBytes int64, codecs []string) (RenditionResult, error) {
	name := dir + "/index.m3u8"
	if len(pl.Segments) == 0 {
		return RenditionResult{}, fmt.Errorf("rendition %s produced no segments", dir)
	}
	if err := writeFile(sink, name, pl.Encode()); err != nil {
		return RenditionResult{}, err
	}
	peak, avg := bandwidth(pl.Segments, sizes)
	rr := RenditionResult{Name: dir, Playlist: storedName(sink, name), Codecs: codecs, Bandwidth: peak, AverageBandwidth: avg, Segments: len(pl.Segments), Bytes: initBytes}
	for i, seg := range pl.Segments {
		rr.Bytes += sizes[i]
		rr.Duration += seg.Duration
	}
	return rr, nil
}

func writeFile(sink Sink, name string, data []byte) error {
	w, err := sink.Create(name)
	if err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", name, err)
	}
	return nil
}
