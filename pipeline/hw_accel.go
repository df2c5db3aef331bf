package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The accelerators --accel names. AccelAuto is resolved against the probe
// (Caps) before a transcode starts; a transcode never runs "auto".
const (
	AccelAuto   Accel = "auto"
	AccelNvidia Accel = "nvidia" // NVDEC decode, scale_cuda, NVENC; hybrid without NVENC
	AccelVAAPI  Accel = "vaapi"  // VAAPI decode, scale_vaapi, h264_vaapi/hevc_vaapi
	AccelQSV    Accel = "qsv"    // CPU decode and scale, h264_qsv/hevc_qsv from system memory
)

// Accels lists every value --accel accepts.
var Accels = []Accel{AccelAuto, AccelCPU, AccelNvidia, AccelVAAPI, AccelQSV}

// ErrAccelUnavailable says a requested accelerator is not usable on this
// machine. It is not the input's fault (exit 1, not 2): the same job runs
// on a machine that has the device, or with --accel cpu|auto.
var ErrAccelUnavailable = errors.New("accelerator not available")

// ErrUnknownAccel says an --accel value is none of Accels.
var ErrUnknownAccel = errors.New("unknown accelerator")

// ParseAccel checks a command-line accel name.
func ParseAccel(s string) (Accel, error) {
	a := Accel(strings.ToLower(strings.TrimSpace(s)))
	if a == "" {
		return AccelCPU, nil
	}
	if slices.Contains(Accels, a) {
		return a, nil
	}
	return "", fmt.Errorf("%w %q: want one of auto, cpu, nvidia, vaapi, qsv", ErrUnknownAccel, s)
}

// deviceType is the libav hardware device type an accel runs on.
func (a Accel) deviceType() string {
	switch a {
	case AccelNvidia:
		return "cuda"
	case AccelVAAPI:
		return "vaapi"
	case AccelQSV:
		return "qsv"
	}
	return ""
}

// Caps is what the capability probe found on this machine.
type Caps struct {
	Devices []DeviceCaps `json:"devices"`
	// ProbeSeconds is how long the probe took (wall clock).
	ProbeSeconds float64 `json:"probe_seconds"`
}

// DeviceCaps is one hardware device the probe tried.
type DeviceCaps struct {
	Type   string `json:"type"`             // cuda, vaapi, qsv
	Device string `json:"device,omitempty"` // render node or index; "" = default
	Opened bool   `json:"opened"`
	Error  string `json:"error,omitempty"` // why it did not open
	// Decoders lists the codecs (h264, hevc...) a decode on this device
	// really produced hardware frames for.
	Decoders []string      `json:"decoders,omitempty"`
	Encoders []EncoderCaps `json:"encoders,omitempty"`
}

// EncoderCaps is one hardware encoder the probe tried to open and use.
type EncoderCaps struct {
	Codec  string `json:"codec"` // h264, hevc
	Name   string `json:"name"`  // h264_nvenc...
	Opened bool   `json:"opened"`
	Error  string `json:"error,omitempty"`
	// Sessions is how many encoders of this kind were open at once in the
	// probe; SessionsCapped says the probe stopped at its cap, so the
	// device may take more.
	Sessions       int  `json:"sessions"`
	SessionsCapped bool `json:"sessions_capped,omitempty"`
}

// Device returns the first device of type t that opened, or nil.
func (c *Caps) Device(t string) *DeviceCaps {
	if c == nil {
		return nil
	}
	for i := range c.Devices {
		if c.Devices[i].Type == t && c.Devices[i].Opened {
			return &c.Devices[i]
		}
	}
	return nil
}

// Encoder returns the encoder of codec on the accel's device if it opened.
func (c *Caps) Encoder(a Accel, codec string) *EncoderCaps {
	d := c.Device(a.deviceType())
	if d == nil {
		return nil
	}
	for i := range d.Encoders {
		if e := &d.Encoders[i]; e.Codec == codec && e.Opened {
			return e
		}
	}
	return nil
}

// Decodes says whether the accel's device decoded codec in the probe.
func (c *Caps) Decodes(a Accel, codec string) bool {
	d := c.Device(a.deviceType())
	return d != nil && slices.Contains(d.Decoders, codec)
}

// Sessions is how many encoder sessions the accel's device gave for codec
// (0 when the encoder does not open).
func (c *Caps) Sessions(a Accel, codec string) int {
	if e := c.Encoder(a, codec); e != nil {
		return e.Sessions
	}
	return 0
}

// Available says whether a transcode can use accel here, and if not why.
// nvidia counts as available with NVDEC alone (the hybrid path).
func (c *Caps) Available(a Accel) (bool, string) {
	switch a {
	case AccelCPU, AccelAuto:
		return true, ""
	case AccelNvidia, AccelVAAPI, AccelQSV:
	default:
		return false, fmt.Sprintf("unknown accelerator %q", a)
	}
	dt := a.deviceType()
	d := c.Device(dt)
	if d == nil {
		why := "no " + dt + " device"
		if c != nil {
			for _, x := range c.Devices {
				if x.Type == dt && x.Error != "" {
					why += ": " + x.Error
					break
				}
			}
		}
		return false, why
	}
	if c.Encoder(a, "h264") != nil {
		return true, ""
	}
	if a == AccelNvidia && len(d.Decoders) > 0 {
		return true, "" // hybrid: NVDEC decode, CPU encode
	}
	return false, fmt.Sprintf("the %s device opened but no H.264 encoder%s works on it", dt, orDecoder(a))
}

func orDecoder(a Accel) string {
	if a == AccelNvidia {
		return " nor decoder"
	}
	return ""
}

// Resolve turns a requested accel into the one a transcode runs: auto picks
// the best available (full NVIDIA, VAAPI, QSV, NVIDIA hybrid, CPU); an
// explicit accel that is not available is ErrAccelUnavailable with why.
func Resolve(req Accel, c *Caps) (Accel, error) {
	switch req {
	case "", AccelCPU:
		return AccelCPU, nil
	case AccelAuto:
		for _, a := range []Accel{AccelNvidia, AccelVAAPI, AccelQSV} {
			if c.Encoder(a, "h264") != nil {
				return a, nil
			}
		}
		if ok, _ := c.Available(AccelNvidia); ok {
			return AccelNvidia, nil // hybrid
		}
		return AccelCPU, nil
	}
	if ok, why := c.Available(req); !ok {
		return "", fmt.Errorf("%w: --accel %s: %s", ErrAccelUnavailable, req, why)
	}
	return req, nil
}

// Input is what routing needs to know of a source's video.
type Input struct {
	Codec    string // decoder name of the source: h264, hevc, vp9...
	BitDepth int
	Chroma   string // 4:2:0, 4:2:2, 4:4:4
	// Prep says the frames must pass CPU filters before scaling
	// (rotation, HDR tone mapping, deinterlacing).
	Prep bool
}

// Route is how one transcode uses the hardware: decided by Plan from the
// resolved accel, the probe and the input, before anything is opened.
type Route struct {
	// Decode is the device the decoder runs on ("" = CPU decode).
	Decode string `json:"decode,omitempty"`
	// GPUScale keeps decoded frames on the device and scales them there
	// (scale_cuda, scale_vaapi); otherwise frames are in system memory
	// before the rendition filters (downloaded when Decode is set).
	GPUScale bool `json:"gpu_scale,omitempty"`
	// Encoders is the encoder family of each rendition, highest first.
	Encoders []Accel `json:"encoders"`
	// Name is the path in words: cpu, nvidia, nvidia-hybrid, vaapi, qsv,
	// with "+cpu-spill" when some renditions were spilled to CPU.
	Name string `json:"name"`
	// Reasons says why the path is not the full accelerated one.
	Reasons []string `json:"reasons,omitempty"`
}

// gpuDecodable says whether the GPU path takes the input: the accelerated
// encoders are configured for 8-bit 4:2:0 (as every ladder output is), so a
// 10-bit or 4:2:2/4:4:4 source is converted on the CPU anyway.
func gpuDecodable(in Input) (bool, string) {
	switch {
	case in.BitDepth > 8:
		return false, fmt.Sprintf("%d-bit input: the GPU path is 8-bit 4:2:0; decoded and converted on the CPU", in.BitDepth)
	case in.Chroma != "" && in.Chroma != "4:2:0":
		return false, fmt.Sprintf("%s input: the GPU path is 4:2:0; decoded and converted on the CPU", in.Chroma)
	}
	return true, ""
}

// Plan routes one input. accel is the resolved accel (never auto); codecs
// are the renditions' codecs, highest first; gpuSessions is how many
// renditions may use the device's encoder (< 0: no limit) — the rest spill
// to CPU encoders.
func Plan(accel Accel, c *Caps, in Input, codecs []string, gpuSessions int) Route {
	r := Route{Encoders: make([]Accel, len(codecs))}
	for i := range r.Encoders {
		r.Encoders[i] = AccelCPU
	}
	if accel == AccelCPU || accel == "" {
		r.Name = string(AccelCPU)
		return r
	}
	decOK, why := gpuDecodable(in)
	if !decOK {
		// 10-bit and 4:4:4 go wholly to CPU: the GPU encoders here are 8-bit
		// 4:2:0 ones and a CPU conversion in between saves nothing.
		r.Name = string(AccelCPU)
		r.Reasons = append(r.Reasons, why)
		return r
	}
	hwDecode := c.Decodes(accel, in.Codec)
	if !hwDecode && accel != AccelQSV {
		r.Reasons = append(r.Reasons, fmt.Sprintf("no %s decoder for %s: decoded on the CPU", accel.deviceType(), in.Codec))
	}
	used := 0
	for i, codec := range codecs {
		if c.Encoder(accel, codec) == nil {
			r.Reasons = append(r.Reasons, fmt.Sprintf("no %s %s encoder: rendition %d on the CPU", accel, codec, i))
			continue
		}
		if gpuSessions >= 0 && used >= gpuSessions {
			r.Reasons = append(r.Reasons, fmt.Sprintf("encoder sessions full: rendition %d spilled to the CPU", i))
			continue
		}
		r.Encoders[i] = accel
		used++
	}
	switch accel {
	case AccelNvidia, AccelVAAPI:
		if hwDecode {
			r.Decode = accel.deviceType()
		}
		r.GPUScale = hwDecode && !in.Prep && used > 0
		if hwDecode && in.Prep {
			r.Reasons = append(r.Reasons, "rotation, HDR or interlacing: frames are filtered on the CPU")
		}
	}
	r.name(accel)
	return r
}

// name sets Name from the encoders and the decode device.
func (r *Route) name(accel Accel) {
	used := 0
	for _, e := range r.Encoders {
		if e != AccelCPU {
			used++
		}
	}
	switch {
	case used == 0 && r.Decode != "":
		r.Name = string(accel) + "-hybrid"
		r.GPUScale = false
	case used == 0:
		r.Name = string(AccelCPU)
	case used < len(r.Encoders):
		r.Name = string(accel) + "+cpu-spill"
	default:
		r.Name = string(accel)
	}
}

// Summary is the probe in one line, for logs and /readyz.
func (c *Caps) Summary() string {
	if c == nil {
		return "accel: not probed"
	}
	var parts []string
	for _, a := range []Accel{AccelNvidia, AccelVAAPI, AccelQSV} {
		d := c.Device(a.deviceType())
		if d == nil {
			continue
		}
		var encs []string
		for _, e := range d.Encoders {
			if e.Opened {
				s := fmt.Sprintf("%s x%d", e.Name, e.Sessions)
				if e.SessionsCapped {
					s += "+"
				}
				encs = append(encs, s)
			}
		}
		desc := d.Type
		if d.Device != "" {
			desc += " " + d.Device
		}
		desc += ": decode " + orNone(strings.Join(d.Decoders, ",")) + ", encode " + orNone(strings.Join(encs, ", "))
		parts = append(parts, desc)
	}
	if len(parts) == 0 {
		return "no GPU: only cpu path"
	}
	return strings.Join(parts, "; ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
