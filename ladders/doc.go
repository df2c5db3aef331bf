// Package ladders holds typed HLS bitrate ladders, the presets shipped with
// hlsfleet (embedded JSON files), and the source-aware selection that turns a
// ladder plus a probed source into the concrete outputs to encode.
//
// # Ladder files
//
// A ladder is a JSON or YAML document (see [Parse]; the format is detected from
// the first non-blank character: '{' means JSON, anything else YAML). Parsing is
// strict: an unknown field is an error that names it. Parse then fills defaults:
// maxrate 1.07 x bitrate, bufsize 1.5 x bitrate, segment 4 s, GOP 2 s, AAC
// 128 kb/s stereo 48 kHz, H.264 veryfast high (main for HEVC), and rendition
// names "<height>p". Every parse or validation error wraps [ErrInvalid];
// validation reports every problem at once, each naming its field path, for
// example "renditions[2].height: 9000 is above 8192".
//
// # Selection rules ([Ladder.Select])
//
//   - Display size. The source's coded width is multiplied by its sample aspect
//     ratio (a zero or degenerate SAR means 1:1) and, for a rotation of 90 or
//     270 degrees, width and height are swapped. Rotation is normalised modulo
//     360 and rounded to the nearest multiple of 90. Outputs always have square
//     pixels in display orientation: the encoder is fed a rotated, rescaled frame.
//   - Short side. A rung's height is the short side of the output frame, so a
//     "1080p" rung gives 1920x1080 from a landscape source and 1080x1920 from a
//     portrait one. An odd height is rounded down to even. The long side keeps
//     the display aspect ratio and is rounded to the nearest even number
//     (1920x1080 at 480 lines gives 854x480). No side exceeds 8192 or the
//     source's own display size; when that limit bites, the other side is
//     recomputed from the aspect ratio, and a clamped rung that would repeat
//     the size of a higher rung is dropped.
//   - Explicit width. A rung's width, when set, is its long side (landscape
//     naming). It is kept only when it fits: not above the source's display
//     long side or 8192, and within 1% of the display aspect ratio at the
//     rung's short side. Otherwise the long side is derived as above.
//   - Never upscale. A rung whose short side exceeds the source's display short
//     side is dropped. If that drops every rung, exactly one output is made at
//     the source's own display size (even-rounded down, at least 2 pixels per
//     side) named "<short>p", using the lowest rung's settings and its bitrate
//     scaled by the ratio of pixel counts, floored at 100 kb/s (or at the
//     lowest rung's bitrate if that is lower); maxrate and bufsize keep the
//     lowest rung's proportions.
//   - Frame rate. The output rate is constant and never above a cap: the rung's
//     fps_max, or 60 when fps_max is 0 or above 60. A source at or below the
//     cap keeps its rate. Above it, the source rate is divided by the smallest
//     integer n that brings it to or below the cap (59.94 capped at 30 gives
//     30000/1001, 50 gives 25). Two exceptions use the cap itself as a
//     rational (29.97 and similar written as k*1000/1001): when the source is
//     within 5% above the cap (a 30.02 fps phone clip capped at 30 gives 30,
//     not 15.01), and in the odd case that division still leaves it above.
//     An unknown source rate (zero) is taken as 30/1, or as the cap when the
//     cap is lower than 30.
//   - Bitrates, codec, profile and preset come from the rung (its overrides,
//     else the ladder's video defaults; a rung that switches codec without
//     naming a profile gets that codec's default profile). Bitrates are not
//     rescaled for kept rungs.
//   - Order. Outputs are ordered highest first (short side, then bitrate).
package ladders
