package chunkcheck

import (
	"math"
	"testing"
)

// sine makes n stereo samples of a 440 Hz tone at amplitude amp starting
// at phase sample first.
func sine(first, n int, amp float64) []float32 {
	out := make([]float32, 2*n)
	for i := range n {
		v := float32(amp * math.Sin(2*math.Pi*440*float64(first+i)/48000))
		out[2*i], out[2*i+1] = v, v
	}
	return out
}

func TestToneStep(t *testing.T) {
	amp := math.Pow(10, -12.0/20)
	p := pcm{samples: sine(0, 5*48000, amp), channels: 2, rate: 48000}
	want := 2 * amp * math.Sin(math.Pi*440/48000)
	if got := p.toneStep(); math.Abs(got-want) > 1e-4 {
		t.Errorf("toneStep %.5f, want %.5f", got, want)
	}
	// One click does not move the median.
	p.samples[2*100000] = 1
	if got := p.toneStep(); math.Abs(got-want) > 1e-4 {
		t.Errorf("toneStep with a click %.5f, want %.5f", got, want)
	}
}

func TestJoinFigures(t *testing.T) {
	amp := 0.25
	const n = 4 * 48000
	single := pcm{samples: sine(0, n, amp), channels: 2, rate: 48000, start: 1.0}
	tone := single.toneStep()
	join := []float64{3.0} // absolute: sample 96000

	// The same audio, starting 1024 samples later with its timestamps
	// saying so: matched by time, no difference.
	late := pcm{samples: sine(1024, n-1024, amp), channels: 2, rate: 48000, start: 1.0 + 1024.0/48000}
	js, elsewhere := joinFigures(single, late, join, 0.05)
	if len(js) != 1 || js[0].MaxDiff > 1e-6 || elsewhere > 1e-6 {
		t.Errorf("time-shifted copy: %+v, elsewhere %v", js, elsewhere)
	}
	if math.Abs(js[0].MaxStep-tone) > 1e-4 || math.Abs(js[0].SingleStep-tone) > 1e-4 {
		t.Errorf("steps %+v, tone %v", js[0], tone)
	}

	// A chunk that starts one AAC frame late at the join: the rest of the
	// audio is shifted, and the waveform jumps.
	shifted := pcm{samples: append(sine(0, 96000, amp), sine(96000-1024, n-96000, amp)...), channels: 2, rate: 48000, start: 1.0}
	js, elsewhere = joinFigures(single, shifted, join, 0.05)
	if js[0].MaxDiff < 0.2 || js[0].MaxStep < 5*tone {
		t.Errorf("shifted chunk: %+v (tone step %v)", js[0], tone)
	}
	if elsewhere < 0.2 {
		t.Errorf("shifted chunk: elsewhere %v", elsewhere)
	}

	// Silence over the join: a gap.
	gap := pcm{samples: sine(0, n, amp), channels: 2, rate: 48000, start: 1.0}
	for i := 2 * (96000 - 500); i < 2*(96000+500); i++ {
		gap.samples[i] = 0
	}
	js, elsewhere = joinFigures(single, gap, join, 0.05)
	if js[0].MaxDiff < amp*0.9 || elsewhere != 0 {
		t.Errorf("gap: %+v, elsewhere %v", js[0], elsewhere)
	}

	// A join past the end of the audio.
	js, _ = joinFigures(single, single, []float64{60}, 0.05)
	if !math.IsNaN(js[0].MaxDiff) {
		t.Errorf("join past the end: %+v", js[0])
	}
}
