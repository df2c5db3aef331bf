package ladders

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WritePresets writes one line per embedded preset, in Names order: its
// name, how many renditions it has, its video codec and its segment length
// (`hlsfleet ladder list`).
func WritePresets(w io.Writer) error {
	for _, n := range Names() {
		l, err := Lookup(n)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-10s %d renditions, %s, %g s segments\n", n, len(l.Renditions), l.Video.Codec, l.SegmentSeconds)
	}
	return nil
}

// WriteOutputs writes the outputs Select chose as a table: name, size,
// frame rate, codec, profile, bitrate, maxrate, bufsize (`hlsfleet ladder
// show --source`).
func WriteOutputs(w io.Writer, outs []Output) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tFPS\tCODEC\tPROFILE\tBITRATE\tMAXRATE\tBUFSIZE")
	for _, o := range outs {
		fmt.Fprintf(tw, "%s\t%dx%d\t%s\t%s\t%s\t%d\t%d\t%d\n", o.Name, o.Width, o.Height, o.FPS, o.Codec, o.Profile, o.BitrateBPS, o.MaxrateBPS, o.BufsizeBits)
	}
	return tw.Flush()
}
