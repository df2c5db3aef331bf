package attempt

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"testing"

	"github.com/hlsfleet/hlsfleet/storage"
)

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewID()
		if !IsID(id) {
			t.Fatalf("NewID() = %q, which IsID refuses", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
	for _, s := range []string{"", "720p", "abcdefghi", "abcdefghijk", "ABCDEFGHIJ", "abcdefgh01", "abcdefgh-j", "audio"} {
		if IsID(s) {
			t.Errorf("IsID(%q) = true", s)
		}
	}
}

func TestObjectName(t *testing.T) {
	name := ObjectName("k3x7q2abcd")
	for in, want := range map[string]string{
		"720p/seg_00001.ts":  "720p/k3x7q2abcd/seg_00001.ts",
		"720p/index.m3u8":    "720p/k3x7q2abcd/index.m3u8",
		"720p/init.mp4":      "720p/k3x7q2abcd/init.mp4",
		"audio_1/seg_2.ts":   "audio_1/k3x7q2abcd/seg_2.ts",
		"poster.jpg":         "k3x7q2abcd/poster.jpg",
		"storyboard.vtt":     "k3x7q2abcd/storyboard.vtt",
		"sprite-0.jpg":       "k3x7q2abcd/sprite-0.jpg",
		"720p.mp4":           "k3x7q2abcd/720p.mp4",
		"master.m3u8":        "master.m3u8",
		"a/b/c/deep.ts":      "a/b/c/k3x7q2abcd/deep.ts",
		"360p/seg_00010.m4s": "360p/k3x7q2abcd/seg_00010.m4s",
	} {
		if got := name(in); got != want {
			t.Errorf("ObjectName(%q) = %q, want %q", in, got, want)
		}
		if in != "master.m3u8" && in != "a/b/c/deep.ts" && Of(name(in)) != "k3x7q2abcd" {
			t.Errorf("Of(%q) = %q, want the attempt", name(in), Of(name(in)))
		}
	}
	for _, k := range []string{"master.m3u8", "job.json", "720p/index.m3u8", "poster.jpg", "a/b/k3x7q2abcd/x.ts", "k3x7q2abcd/", "/k3x7q2abcd/x"} {
		if id := Of(k); id != "" {
			t.Errorf("Of(%q) = %q, want none", k, id)
		}
	}
}

const (
	win  = "wwwwwwwwww"
	lose = "llllllllll"
	dead = "dddddddddd"
)

func masterOf(id string) []byte {
	return []byte("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\n360p/" + id + "/index.m3u8\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=426x240\n240p/" + id + "/index.m3u8\n")
}

func TestPublished(t *testing.T) {
	if got := PublishedBy(masterOf(win)); got != win {
		t.Errorf("PublishedBy = %q, want %q", got, win)
	}
	fixed := []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=1\n240p/index.m3u8\n")
	if got := PublishedBy(fixed); got != "" {
		t.Errorf("PublishedBy(fixed names) = %q, want none", got)
	}
	f, err := Published(fixed)
	if err != nil || !reflect.DeepEqual(f, map[string]bool{"360p": true, "240p": true}) {
		t.Errorf("Published(fixed names) = %v, %v", f, err)
	}
	group := []byte("#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"en\",URI=\"audio_0/" + win + "/index.m3u8\"\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO=\"audio\"\n360p/" + win + "/index.m3u8\n")
	if got := PublishedBy(group); got != win {
		t.Errorf("PublishedBy(audio group) = %q, want %q", got, win)
	}
	for _, bad := range [][]byte{[]byte("not a playlist"), []byte("#EXTM3U\n"),
		[]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttps://elsewhere/" + win + "/index.m3u8\n")} {
		if _, err := Published(bad); err == nil {
			t.Errorf("Published(%q) took it", bad)
		}
		if _, err := Reached(bad, nil); err == nil {
			t.Errorf("Reached(%q) took it", bad)
		}
	}
}

// TestStale: the selection deletes other attempts' objects only.
func TestStale(t *testing.T) {
	keys := []string{
		"master.m3u8", "job.json",
		// the winner: playlists, segments, init, extras
		"360p/" + win + "/index.m3u8", "360p/" + win + "/seg_00000.ts", "240p/" + win + "/init.mp4",
		win + "/poster.jpg", win + "/storyboard.vtt", win + "/sprite-0.jpg", win + "/240p.mp4",
		// a loser and a dead attempt, in renditions the winner has and one it dropped
		"360p/" + lose + "/seg_00000.ts", "360p/" + lose + "/index.m3u8", lose + "/poster.jpg",
		"1080p/" + dead + "/seg_00003.ts", dead + "/sprite-0.jpg",
		// fixed names of an older layout, and things that are no attempt's
		"360p/index.m3u8", "poster.jpg", "notes/readme.txt", "360p/" + win + "x/seg.ts",
		// another job's output nested in this one, and a live stream
		"nested/job.json", "nested/master.m3u8", "nested/" + dead + "/poster.jpg", "nested/360p/" + dead + "/seg_00000.ts",
		"live/cam/master.m3u8", "live/cam/" + dead + "/1.ts",
		// a job.json or master inside an attempt folder is never selected
		"360p/" + dead + "/master.m3u8",
	}
	var objs []storage.Attrs
	for _, k := range keys {
		objs = append(objs, storage.Attrs{Key: k})
	}
	reached, err := Reached(masterOf(win), playlists(nil))
	if err != nil {
		t.Fatal(err)
	}
	got := Stale(reached, objs)
	want := []string{
		"360p/" + lose + "/seg_00000.ts", "360p/" + lose + "/index.m3u8", lose + "/poster.jpg",
		"1080p/" + dead + "/seg_00003.ts", dead + "/sprite-0.jpg",
	}
	sort.Strings(got)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Stale selected\n%v\nwant\n%v", got, want)
	}
	// Against a master of fixed names every attempt folder is stale.
	fixed := []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8\n")
	reached, _ = Reached(fixed, playlists(map[string]string{"360p/index.m3u8": "#EXTM3U\n#EXTINF:4,\nseg_00000.ts\n"}))
	got = Stale(reached, []storage.Attrs{{Key: "360p/index.m3u8"}, {Key: "360p/seg_00000.ts"}, {Key: "360p/" + win + "/seg_00000.ts"}})
	if !reflect.DeepEqual(got, []string{"360p/" + win + "/seg_00000.ts"}) {
		t.Errorf("Stale under a fixed-name master selected %v", got)
	}
}

// TestClean on the file driver: nothing happens before a master exists;
// after, only the other attempts' objects go.
func TestClean(t *testing.T) {
	ctx := context.Background()
	b, err := storage.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	put := func(keys ...string) {
		for _, k := range keys {
			if err := b.WriteAll(ctx, k, []byte(k), storage.WriterOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	put("360p/"+win+"/seg_00000.ts", win+"/poster.jpg", "360p/"+lose+"/seg_00000.ts", lose+"/poster.jpg", "job.json")
	if err := b.WriteAll(ctx, "360p/"+win+"/index.m3u8", []byte("#EXTM3U\n#EXTINF:4,\nseg_00000.ts\n"), storage.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	if by, n, err := Clean(ctx, b); by != "" || n != 0 || err != nil {
		t.Fatalf("Clean without a master = %q, %d, %v: want nothing done", by, n, err)
	}
	if err := b.WriteAll(ctx, "master.m3u8", masterOf(win), storage.WriterOptions{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	by, n, err := Clean(ctx, b)
	if by != win || n != 2 || err != nil {
		t.Fatalf("Clean = %q, %d, %v: want %s, 2 deleted", by, n, err, win)
	}
	objs, err := b.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, o := range objs {
		left = append(left, o.Key)
	}
	want := []string{"360p/" + win + "/index.m3u8", "360p/" + win + "/seg_00000.ts", "job.json", "master.m3u8", win + "/poster.jpg"}
	sort.Strings(left)
	sort.Strings(want)
	if !reflect.DeepEqual(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}

// playlists returns a read function over the given playlists (key →
// text); any other key does not exist.
func playlists(m map[string]string) func(string) ([]byte, error) {
	return func(key string) ([]byte, error) {
		if p, ok := m[key]; ok {
			return []byte(p), nil
		}
		return nil, storage.ErrNotExist
	}
}

// TestStaleChunked: a chunked job's master is the finishing attempt's, and
// its media playlists name segments (and fMP4 initialization sections) in
// the folder of every chunk's attempt: Clean keeps them all, and deletes
// only a chunk attempt that lost its chunk's record and a dead finisher.
func TestStaleChunked(t *testing.T) {
	const (
		fin    = "ffffffffff" // the finishing attempt: playlists, poster, storyboard
		c0, c1 = "aaaaaaaaaa", "bbbbbbbbbb"
		c1lost = "cccccccccc" // a second attempt of chunk 1 that lost MarkDone
		deadF  = "eeeeeeeeee" // a finisher that lost the master's create and died
	)
	ctx := context.Background()
	b, err := storage.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	media := map[string]string{
		"360p/" + fin + "/index.m3u8": "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4\n" +
			"#EXT-X-MAP:URI=\"../" + c0 + "/init.mp4\"\n#EXTINF:4.000,\n../" + c0 + "/seg_00000.m4s\n" +
			"#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"../" + c1 + "/init.mp4\"\n#EXTINF:4.000,\n../" + c1 + "/seg_00001.m4s\n#EXT-X-ENDLIST\n",
		"240p/" + fin + "/index.m3u8": "#EXTM3U\n#EXTINF:4.000,\n../" + c0 + "/seg_00000.ts\n#EXTINF:4.000,\n../" + c1 + "/seg_00001.ts\n" +
			"#EXTINF:1,\nhttps://cdn.example/elsewhere.ts\n#EXTINF:1,\n../../../outside/" + deadF + "/x.ts\n",
	}
	keep := []string{
		"master.m3u8", "job.json", "chunks.json",
		"360p/" + fin + "/index.m3u8", "240p/" + fin + "/index.m3u8", fin + "/poster.jpg", fin + "/storyboard.vtt",
		"360p/" + c0 + "/init.mp4", "360p/" + c0 + "/seg_00000.m4s", "240p/" + c0 + "/seg_00000.ts", c0 + "/strip.png",
		"360p/" + c1 + "/init.mp4", "360p/" + c1 + "/seg_00001.m4s", "240p/" + c1 + "/seg_00001.ts",
	}
	stale := []string{"360p/" + c1lost + "/seg_00001.m4s", c1lost + "/strip.png", "360p/" + deadF + "/index.m3u8"}
	for _, k := range append(append([]string{}, keep...), stale...) {
		data := []byte(k)
		if m, ok := media[k]; ok {
			data = []byte(m)
		}
		if k == "master.m3u8" {
			data = []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/" + fin + "/index.m3u8\n" +
				"#EXT-X-STREAM-INF:BANDWIDTH=1\n240p/" + fin + "/index.m3u8\n")
		}
		if err := b.WriteAll(ctx, k, data, storage.WriterOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	master, _ := b.ReadAll(ctx, "master.m3u8")
	reached, err := Reached(master, func(k string) ([]byte, error) { return b.ReadAll(ctx, k) })
	if err != nil || !reflect.DeepEqual(reached, map[string]bool{fin: true, c0: true, c1: true}) {
		t.Fatalf("Reached = %v, %v", reached, err)
	}
	by, n, err := Clean(ctx, b)
	if by != fin || n != len(stale) || err != nil {
		t.Fatalf("Clean = %q, %d, %v: want %s, %d deleted", by, n, err, fin, len(stale))
	}
	objs, _ := b.List(ctx, "")
	var left []string
	for _, o := range objs {
		left = append(left, o.Key)
	}
	sort.Strings(left)
	sort.Strings(keep)
	if !reflect.DeepEqual(left, keep) {
		t.Errorf("left\n%v\nwant\n%v", left, keep)
	}
	// A playlist read that fails (storage out) stops the cleanup.
	boom := errors.New("storage out")
	if _, err := Reached(master, func(string) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("Reached with a failing read: %v", err)
	}
}
