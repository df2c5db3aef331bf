package ladders

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Source describes the probed video stream a ladder is applied to.
type Source struct {
	Width, Height int      // coded frame size in pixels
	SAR           Rational // sample aspect ratio; zero, 0/x or x/0 mean 1:1
	Rotation      int      // display rotation in degrees clockwise; normalised mod 360 and rounded to a multiple of 90
	FPS           Rational // frame rate; zero means unknown
}

// Output is one rendition to encode: display orientation, square pixels,
// even dimensions, constant frame rate.
type Output struct {
	Name                                string
	Width, Height                       int
	FPS                                 Rational
	BitrateBPS, MaxrateBPS, BufsizeBits int64
	Codec, Profile, Preset              string
}

const (
	globalFPSCap      = 60.0
	unknownFPS        = 30
	nearCapTolerance  = 1.05 // a source this close above the cap is converted to the cap itself
	aspectTolerance   = 0.01 // explicit widths must match the display aspect this closely
	minFallbackBPS    = 100_000
	maxRationalFactor = 1 << 31
)

// Select applies the ladder to src following the rules in the package doc and
// returns the outputs, highest first. It works on a copy of the ladder with
// defaults applied, which must validate. An unusable source (zero or negative
// size, negative SAR) or an invalid ladder gives an error wrapping ErrInvalid.
func (l *Ladder) Select(src Source) ([]Output, error) {
	lc := *l
	lc.Renditions = slices.Clone(l.Renditions)
	lc.applyDefaults()
	if err := lc.Validate(); err != nil {
		return nil, err
	}
	dw, dh, err := displaySize(src)
	if err != nil {
		return nil, err
	}
	short, long := min(dw, dh), max(dw, dh)
	aspect := long / short // >= 1
	portrait := dh > dw
	longMax := max(min(maxDimension, floorEven(long)), 2)

	rungs := lc.Renditions
	slices.SortStableFunc(rungs, func(a, b Rendition) int {
		if a.Height != b.Height {
			return b.Height - a.Height
		}
		return cmp.Compare(b.BitrateBPS, a.BitrateBPS)
	})

	orient := func(s, l int) (w, h int) {
		if portrait {
			return s, l
		}
		return l, s
	}
	var outs []Output
	for _, r := range rungs {
		want := r.Height &^ 1
		if float64(want) > short {
			continue // never upscale
		}
		s, ln, clamped := fit(want, aspect, longMax)
		if r.Width != 0 && !clamped && r.Width <= longMax &&
			math.Abs(float64(r.Width)/float64(s)/aspect-1) <= aspectTolerance {
			ln = r.Width
		}
		w, h := orient(s, ln)
		if clamped && slices.ContainsFunc(outs, func(o Output) bool { return o.Width == w && o.Height == h }) {
			continue
		}
		codec, profile, preset := lc.resolved(r)
		outs = append(outs, Output{
			Name: r.Name, Width: w, Height: h,
			FPS:        outputFPS(src.FPS, r.FPSMax),
			BitrateBPS: r.BitrateBPS, MaxrateBPS: r.MaxrateBPS, BufsizeBits: r.BufsizeBits,
			Codec: codec, Profile: profile, Preset: preset,
		})
	}
	if len(outs) > 0 {
		return outs, nil
	}

	// Every rung is above the source: one output at the source's own size.
	low := rungs[len(rungs)-1]
	s, ln, _ := fit(max(floorEven(short), 2), aspect, longMax)
	w, h := orient(s, ln)
	nominalS := low.Height &^ 1
	nominalL := roundEven(float64(nominalS) * aspect)
	ratio := float64(s*ln) / float64(nominalS*nominalL)
	br := max(int64(float64(low.BitrateBPS)*ratio), min(minFallbackBPS, low.BitrateBPS))
	scale := func(v int64) int64 {
		return int64(math.Round(float64(br) * float64(v) / float64(low.BitrateBPS)))
	}
	codec, profile, preset := lc.resolved(low)
	return []Output{{
		Name: strconv.Itoa(s) + "p", Width: w, Height: h,
		FPS:        outputFPS(src.FPS, low.FPSMax),
		BitrateBPS: br, MaxrateBPS: max(scale(low.MaxrateBPS), br), BufsizeBits: max(scale(low.BufsizeBits), 1),
		Codec: codec, Profile: profile, Preset: preset,
	}}, nil
}

// displaySize returns the source's display width and height: SAR applied to
// the width, then swapped for a rotation of 90 or 270 degrees.
func displaySize(src Source) (w, h float64, err error) {
	if src.Width <= 0 || src.Height <= 0 {
		return 0, 0, fmt.Errorf("%w: source size %dx%d is not usable", ErrInvalid, src.Width, src.Height)
	}
	if src.SAR.Num < 0 || src.SAR.Den < 0 {
		return 0, 0, fmt.Errorf("%w: source sample aspect ratio %s is negative", ErrInvalid, src.SAR)
	}
	sar := 1.0
	if src.SAR.Num > 0 && src.SAR.Den > 0 {
		sar = src.SAR.Float()
	}
	w, h = float64(src.Width)*sar, float64(src.Height)
	if r := normRotation(src.Rotation); r == 90 || r == 270 {
		w, h = h, w
	}
	return w, h, nil
}

// normRotation maps any angle to 0, 90, 180 or 270 (nearest, halves up).
func normRotation(deg int) int {
	m := (deg%360 + 360) % 360
	return (m + 45) / 90 % 4 * 90
}

// fit returns the short and long sides for a short side s at aspect ratio
// aspect (long/short >= 1): the long side is rounded to the nearest even
// number and, when above longMax, set to longMax with the short side
// recomputed (clamped is then true). Both are at least 2.
func fit(s int, aspect float64, longMax int) (short, long int, clamped bool) {
	long = roundEven(float64(s) * aspect)
	if long > longMax {
		long = longMax
		s = min(s, roundEven(float64(long)/aspect))
		clamped = true
	}
	return max(s, 2), max(long, 2), clamped
}

// outputFPS returns the constant output frame rate for a source rate under a
// rung's fps_max (see the package doc).
func outputFPS(src Rational, fpsMax float64) Rational {
	capF := fpsMax
	if capF <= 0 || capF > globalFPSCap {
		capF = globalFPSCap
	}
	capR := ratFromFloat(capF)
	capF = capR.Float()
	if src.Num <= 0 || src.Den <= 0 {
		if capF >= unknownFPS {
			return Rational{unknownFPS, 1}
		}
		return capR
	}
	s := reduce(src)
	if s.Num > maxRationalFactor || s.Den > maxRationalFactor {
		s = ratFromFloat(s.Float())
	}
	f := s.Float()
	const eps = 1e-9
	switch {
	case f <= capF*(1+eps):
		return s
	case f <= capF*nearCapTolerance:
		return capR
	}
	n := int(math.Ceil(f/capF - eps))
	out := reduce(Rational{s.Num, s.Den * n})
	if out.Float() > capF*(1+eps) {
		return capR
	}
	return out
}

// ratFromFloat returns an exact rational for a frame rate given as a decimal:
// integers as n/1, NTSC-style rates (29.97, 59.94, 23.976) as k*1000/1001,
// anything else in thousandths.
func ratFromFloat(f float64) Rational {
	if r := math.Round(f); r >= 1 && math.Abs(f-r) < 1e-6 {
		return Rational{int(r), 1}
	}
	if k := math.Round(f * 1.001); k >= 1 && math.Abs(k*1000/1001-f) < 1e-3 {
		return Rational{int(k) * 1000, 1001}
	}
	return reduce(Rational{max(int(math.Round(f*1000)), 1), 1000})
}

func reduce(r Rational) Rational {
	a, b := r.Num, r.Den
	for b != 0 {
		a, b = b, a%b
	}
	if a == 0 {
		return r
	}
	if a < 0 {
		a = -a
	}
	return Rational{r.Num / a, r.Den / a}
}

// floorEven and roundEven round to an even integer; the input is clamped to
// [0, 1<<40] so that absurd aspect ratios cannot overflow.
func floorEven(f float64) int { return int(math.Floor(clampDim(f)/2)) * 2 }

func roundEven(f float64) int { return int(math.Round(clampDim(f)/2)) * 2 }

func clampDim(f float64) float64 { return math.Max(0, math.Min(f, 1<<40)) }
