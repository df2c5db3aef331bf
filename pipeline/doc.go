// Package pipeline is hlsfleet's engine and its only cgo package (go-astiav
// over FFmpeg 5.1): it turns one input into an HLS presentation, decoding
// the input once and encoding every rung of the ladder from those frames.
//
// # The parts, in the order a transcode runs them
//
//  1. Probe (input.go, probe.go): open the input, a local file or any
//     seekable reader behind a custom AVIOContext (input.go), check it
//     against [Limits] and describe it as an [Info] (probe.go), all before
//     any decoder opens. [Probe] and [ProbeSource] stop here.
//  2. Plan (plan.go): select the rungs the source allows ([LadderSource]),
//     choose each rung's encoder, open the video decoder, and wire the
//     rendition workers, their segmenters and the audio chains.
//  3. Decode once (decode.go): one demux loop reads every packet and
//     decodes it; video frames are timed against the input's start.
//  4. Prep graph (prep.go): deinterlacing, rotation per the display matrix
//     and HDR to SDR tone mapping, done once before the ladder fans out;
//     every rendition then gets its own reference to each frame (fanOut).
//  5. Per rendition, filter and encode (rendition.go, filter.go,
//     encoders.go): one goroutine per rung runs fps, scale, setsar and
//     format (filter.go wraps libavfilter graphs; a small rung may scale
//     from a larger rung's frames, see cascade), then the encoder from the
//     table encoders[accel][codec] (encoders.go), with an IDR forced at
//     every GOP and segment boundary. Each audio track is decoded,
//     resampled and AAC-encoded once (audio.go), its packets shared by
//     every rung.
//  6. Segmenter and muxers (segmenter.go, mux.go, tscc.go): each rung's
//     packets are cut at the key packet on or after each boundary
//     (segmenter.go) and muxed (mux.go) as MPEG-TS, a fresh muxer per
//     segment whose continuity counters tscc.go carries on, or as
//     fragmented MP4, one muxer per rung.
//  7. Sinks (sink.go): every file leaves through a [Sink] as soon as it is
//     made, under the name Options.ObjectName gives it (the fleet's
//     attempt folders; the master keeps its name); [DirSink] stages into a
//     directory and commits with the master last.
//  8. Publish (publish.go): the media playlists (modelled by pipeline/hls),
//     the extras, the poster (poster.go) and master.m3u8 last: its presence
//     means the presentation is whole.
//
// transcode.go holds the entry point [Transcode] with its [Options] and
// [Result], and run, which starts the rendition goroutines beside the demux
// loop and waits for both. errors.go holds the input faults (each wraps
// [ErrInput]); log.go routes libav's log to zap; shim.go holds the few libav
// calls go-astiav v0.16 lacks.
//
// # Extras taps
//
// extras.go hangs the extras off the one decode, so nothing is decoded or
// encoded twice: in fanOut the storyboard (extras_storyboard.go) and the
// quality report's references (extras_quality.go) tap the shared frames;
// each rung's quality probe reads that rung's encoded packets; the
// progressive MP4 (extras_mp4.go) taps one rung's segmenter. At publish the
// quality gate may drop rungs.
//
// # Other job kinds
//
// live.go: [TranscodeLiveSegment], one segment of a live stream through the
// same plan, decode, renditions and segmenter, on the source's timeline.
// livecut.go: [CutLive], the ingest stand-in that cuts a source into live
// segments. chunk.go: [TranscodeChunk], one chunk of a long VOD input (a
// span of the single pass's timeline, job.ChunkSpan) through the same
// plan, decode, renditions and segmenter with a window: seek to a keyframe
// ahead of the span, fps grid and AAC frame grid of the single pass, only
// the span's frames encoded and audio packets muxed, global segment
// numbers, a discontinuity-indicator packet per PID at a TS join. Its
// contract types with the finish (chunkfinish.go, [FinishChunks]) are in
// chunktypes.go. chunkfinish.go: [FinishChunks] publishes the chunks as
// the single pass would have (media playlists over the chunks' segments
// where they lie, the master last) through publish.go's shared pieces, with the quality figures merged
// and gated and the storyboard packed from the chunks' strips
// (chunkfinish_extras.go) and the MP4 remuxed from one rung's segments read
// back (chunkfinish_mp4.go).
//
// # Hardware paths
//
// The accelerated paths live apart from the software path, in hw_*.go:
// hw_accel.go (pure Go: [Accel], [Caps], [Resolve], and [Plan], which gives
// a [Route]), hw_caps.go (the capability probe, [ProbeAccel]),
// hw_encoders.go (the NVENC, VAAPI and QSV rows of the encoder table),
// hw_path.go (the hooks the transcode calls: planAccel, openVideoDecoder,
// toSystemMemory, a rung's device filter chain, the fallback to a CPU
// encoder) and hw_shim.go (device and frames contexts, which go-astiav
// lacks). On the CPU route every hook falls through to the software path.
// The GPU test, gpu_test.go, is behind the gpu build tag.
//
// # Where new work goes
//
//   - DASH: its manifest writer is pure Go, in a package beside
//     pipeline/hls; the segments are mux.go's fragmented MP4, and the
//     manifest is written at publish (publish.go).
//   - Encryption: in the muxers (mux.go), with keys and their playlist tags
//     at publish.
//   - Subtitles: subtitles.go, a chain beside audio.go whose cues are cut at
//     the segmenter's boundaries; their EXT-X-MEDIA entries at publish.
//   - Loudness: the audio chain (audio.go).
//   - Probes: probe.go for what is learned about an input ([Info]), input.go
//     for opening it; the accelerator probe is hw_caps.go.
//
// Pure-Go playlist and manifest code does not go in this package: it lives
// beside pipeline/hls, without cgo, with golden tests.
package pipeline
