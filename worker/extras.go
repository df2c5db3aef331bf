package worker

import "github.com/hlsfleet/hlsfleet/pipeline"

// Extras are what a published output has besides its playlists: the
// quality report and the names (relative to the output) of the poster,
// storyboard index and progressive MP4. Status, Outcome and ExecEvent embed
// it, so the fields sit at the top level of job.json:
//
//	"quality": [{"rendition": "720p", "width": 1280, "height": 720,
//	             "ssim": 0.97, "psnr_db": 38.2, "frames": 12,
//	             "ssim_gain": 0.012, "dropped": false}],
//	"poster": "poster.jpg", "storyboard": "storyboard.vtt", "mp4": "720p.mp4"
type Extras struct {
	Quality    []pipeline.Quality `json:"quality,omitempty"`
	Poster     string             `json:"poster,omitempty"`
	Storyboard string             `json:"storyboard,omitempty"`
	MP4        string             `json:"mp4,omitempty"`
}
