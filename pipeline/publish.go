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
	version := 3
	if t.opt.SegmentType == SegmentFMP4 {
		version = 6
	}
	master := &hls.Master{Version: version, IndependentSegments: true}

	audioPeak, audioAvg, err := t.publishAudio(res, master)
	if err != nil {
		return nil, err
	}
	kept, err := t.qualityGate(res)
	if err != nil {
		return nil, err
	}
	if err := t.publishVideo(kept, res, master, audioPeak, audioAvg); err != nil {
		return nil, err
	}
	if len(t.videos) == 0 && len(res.Audio) > 0 {
		a := res.Audio[0]
		master.Variants = append(master.Variants, hls.Variant{
			URI: a.Playlist, Bandwidth: a.Bandwidth, AverageBandwidth: a.AverageBandwidth,
			Codecs: a.Codecs,
		})
		if len(master.Media) > 0 {
			master.Variants[0].Audio = "audio"
		}
	}
	if len(master.Variants) == 0 {
		return nil, inputErr(ErrNoStream, "nothing could be encoded")
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
// there are several, lists them in the master as the EXT-X-MEDIA group
// "audio". It returns the highest peak and average bandwidth among them,
// which each variant that uses the group adds to its own.
func (t *transcode) publishAudio(res *Result, master *hls.Master) (int64, int64, error) {
	var peak, avg int64
	for i, s := range t.audioSeg {
		rr, err := t.writePlaylist(s, []string{hls.AACLC})
		if err != nil {
			return 0, 0, err
		}
		res.Audio = append(res.Audio, rr)
		peak = max(peak, rr.Bandwidth)
		avg = max(avg, rr.AverageBandwidth)
		if len(t.audioSeg) == 1 {
			continue // a lone audio playlist is the variant itself
		}
		master.Media = append(master.Media, t.audioMedia(i, rr.Playlist))
	}
	return peak, avg, nil
}

// audioMedia is the EXT-X-MEDIA entry of audio track i, named after its
// language ("Track N" without one); the first track is the default.
func (t *transcode) audioMedia(i int, uri string) hls.Media {
	info := t.in.info.Audio[i]
	name := info.Language
	if name == "" || name == "und" {
		name = fmt.Sprintf("Track %d", i+1)
	}
	lang := info.Language
	if lang == "und" {
		lang = ""
	}
	return hls.Media{
		Type: "AUDIO", GroupID: "audio", Name: name, Language: lang, URI: uri,
		Channels: fmt.Sprint(t.opt.Ladder.Audio.Channels), Default: i == 0, AutoSelect: true,
	}
}

// publishVideo writes the media playlist of every rendition kept into
// res.Renditions and adds it to the master as a variant; a variant that
// uses the audio group carries the group's bandwidth on top of its own.
func (t *transcode) publishVideo(kept []*renditionWorker, res *Result, master *hls.Master, audioPeak, audioAvg int64) error {
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
		v := hls.Variant{
			URI: rr.Playlist, Bandwidth: rr.Bandwidth, AverageBandwidth: rr.AverageBandwidth, Codecs: codecs,
			Width: rr.Width, Height: rr.Height, FrameRate: math.Round(rr.FrameRate*1000) / 1000,
		}
		if len(master.Media) > 0 {
			v.Audio = "audio"
			v.Bandwidth += audioPeak
			v.AverageBandwidth += audioAvg
		}
		master.Variants = append(master.Variants, v)
	}
	return nil
}

func (t *transcode) writePlaylist(s *segmenter, codecs []string) (RenditionResult, error) {
	pl := s.playlist()
	name := s.dir + "/index.m3u8"
	if len(pl.Segments) == 0 {
		return RenditionResult{}, fmt.Errorf("rendition %s produced no segments", s.dir)
	}
	if err := writeFile(t.sink, name, pl.Encode()); err != nil {
		return RenditionResult{}, err
	}
	peak, avg := s.bandwidth()
	rr := RenditionResult{Name: s.dir, Playlist: t.objectName(name), Codecs: codecs, Bandwidth: peak, AverageBandwidth: avg, Segments: len(pl.Segments), Bytes: s.initSize}
	for i, seg := range pl.Segments {
		rr.Bytes += s.sizes[i]
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
