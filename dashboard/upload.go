package dashboard

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"path"
	"strings"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
)

// UploadResult is the answer to a successful upload.
type UploadResult struct {
	JobID  string `json:"job_id"`
	Source string `json:"source"`
	Output string `json:"output"`
	Path   string `json:"path"`
}

// SniffMedia names the container whose signature head starts with, or
// returns "" when head does not look like a media file hlsfleet may read.
// It is a first check with a clear answer for an obvious mistake (a text
// file, an image, an archive); the transcoder's probe is the real one.
func SniffMedia(head []byte) string {
	has := func(off int, sig string) bool {
		return len(head) >= off+len(sig) && string(head[off:off+len(sig)]) == sig
	}
	switch {
	case has(4, "ftyp"):
		return "mp4"
	case has(4, "moov"), has(4, "mdat"), has(4, "wide"), has(4, "free"), has(4, "skip"), has(4, "pnot"):
		return "mov"
	case has(0, "\x1a\x45\xdf\xa3"):
		return "matroska"
	case len(head) > 188 && head[0] == 0x47 && head[188] == 0x47, len(head) > 0 && len(head) <= 188 && head[0] == 0x47:
		return "mpegts"
	case has(0, "\x00\x00\x01\xba"):
		return "mpeg-ps"
	case has(0, "RIFF") && (has(8, "AVI ") || has(8, "WAVE")):
		return "riff"
	case has(0, "FLV"):
		return "flv"
	case has(0, "OggS"):
		return "ogg"
	case has(0, "\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
		return "asf"
	case has(0, "\x06\x0e\x2b\x34"):
		return "mxf"
	case has(0, "\x00\x00\x00\x01"), has(0, "\x00\x00\x01"):
		return "elementary stream"
	case has(0, "ID3"), len(head) >= 2 && head[0] == 0xff && head[1]&0xe0 == 0xe0:
		return "mpeg audio"
	case has(0, "fLaC"):
		return "flac"
	}
	return ""
}

// handleUpload stores the request body under the sources as
// <job id>-<name> and sends a job for it, as `hlsfleet local`'s inbox does.
// The name comes from ?name=; the body is the file itself (no multipart).
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	if s.src == nil || s.cfg.Queue == nil {
		httpError(w, http.StatusServiceUnavailable, "uploads are off here: start the dashboard with a queue and a sources location (hlsfleet local, or hlsfleet serve --queue URL --output URL --sources URL)")
		return
	}
	name := r.URL.Query().Get("name")
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "" || name == "." || name == "/" {
		httpError(w, http.StatusBadRequest, "the upload has no file name (?name=)")
		return
	}
	max := s.cfg.MaxUpload
	if r.ContentLength > max {
		httpError(w, http.StatusRequestEntityTooLarge, "%s is %d bytes, over the upload limit of %d bytes", name, r.ContentLength, max)
		return
	}
	body := http.MaxBytesReader(w, r.Body, max)
	br := bufio.NewReaderSize(body, 4096)
	head, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		uploadReadError(w, name, max, err)
		return
	}
	if len(head) == 0 {
		httpError(w, http.StatusBadRequest, "%s is empty", name)
		return
	}
	kind := SniffMedia(head)
	if kind == "" {
		ct := http.DetectContentType(head)
		httpError(w, http.StatusUnsupportedMediaType, "%s does not look like a video or audio file (it looks like %s); hlsfleet reads MP4, MOV, Matroska/WebM, MPEG-TS, AVI, FLV and similar", name, ct)
		return
	}
	ctx := r.Context()
	id := job.NewID()
	key := id + "-" + job.SafeName(name)
	wr, err := s.src.NewWriter(ctx, key, storage.WriterOptions{})
	if err != nil {
		httpError(w, http.StatusBadGateway, "storing %s: %v", name, err)
		return
	}
	n, err := io.Copy(wr, br)
	if err != nil {
		_ = wr.Abort()
		uploadReadError(w, name, max, err)
		return
	}
	if err := wr.Close(); err != nil {
		httpError(w, http.StatusBadGateway, "storing %s: %v", name, err)
		return
	}
	stem := strings.TrimSuffix(name, path.Ext(name))
	rel := s.freeOutputName(r, job.SafeName(stem), id)
	var opts []job.Option
	opts = append(opts, job.WithID(id), job.WithAttribute("uploaded-name", name))
	if s.cfg.Ladder != "" {
		opts = append(opts, job.WithLadder(s.cfg.Ladder))
	}
	source := strings.TrimSuffix(s.cfg.Sources, "/") + "/" + key
	j := job.New(source, s.outRoot+"/"+rel, opts...)
	if _, err := queue.SendJob(ctx, s.cfg.Queue, j); err != nil {
		// The upload stays under the sources; the job can be sent again.
		s.log.Error("dashboard: sending the job for an upload", zap.String("job_id", id), zap.String("source", source), zap.Error(err))
		httpError(w, http.StatusBadGateway, "%s was stored as %s but its job was not sent: %v", name, source, err)
		return
	}
	s.log.Info("dashboard: upload submitted", zap.String("job_id", id), zap.String("source", source),
		zap.Int64("bytes", n), zap.String("container", kind), zap.String("output", j.Output))
	s.Queued(j)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(mustJSON(UploadResult{JobID: id, Source: source, Output: j.Output, Path: rel}))
}

func uploadReadError(w http.ResponseWriter, name string, max int64, err error) {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		httpError(w, http.StatusRequestEntityTooLarge, "%s is over the upload limit of %d bytes", name, max)
		return
	}
	httpError(w, http.StatusBadRequest, "reading the upload of %s: %v", name, err)
}

// freeOutputName is stem when no job has published or reported under it,
// else stem-<first 8 of id>, so a second upload of a same-named file never
// lands on (and, by the worker's idempotency, is never mistaken for) the first.
func (s *Server) freeOutputName(r *http.Request, stem, id string) string {
	used := func(rel string) bool {
		for _, n := range []string{job.StatusName, job.MasterName} {
			if ok, err := s.out.Exists(r.Context(), rel+"/"+n); ok || err != nil {
				return true
			}
		}
		st := s.hub.state()
		for _, j := range st.Jobs {
			if j.Path == rel {
				return true
			}
		}
		return false
	}
	if stem != strings.TrimSuffix(LivePrefix, "/") && !used(stem) {
		return stem
	}
	short := id
	if len(short) > 8 {
		short = short[:8]
	}
	return stem + "-" + job.SafeName(short)
}
