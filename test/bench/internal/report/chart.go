package report

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"slices"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Chart layout, in pixels.
const (
	chartWidth   = 1100
	panelHeight  = 320
	marginLeft   = 60
	marginRight  = 260
	marginTop    = 34
	marginBottom = 44
)

// maxNines is the top of the vertical scale: the 0.999 quantile.
const maxNines = 3

// palette: distinct colours, one per scenario in the run's order.
var palette = []color.RGBA{
	{0x33, 0x33, 0x33, 0xff}, // none: dark grey
	{0x99, 0x99, 0x99, 0xff}, // noop: light grey
	{0x1f, 0x77, 0xb4, 0xff},
	{0x2c, 0xa0, 0x2c, 0xff},
	{0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff},
	{0xff, 0x7f, 0x0e, 0xff},
	{0x8c, 0x56, 0x4b, 0xff},
	{0xe3, 0x77, 0xc2, 0xff},
	{0x17, 0xbe, 0xcf, 0xff},
}

// Series is one scenario's pooled, sorted latencies at one C.
type Series struct {
	Scenario ScenarioInfo
	Us       []int64
}

// Pooled returns, per C (ascending), each scenario's samples over all
// repetitions, sorted; scenarios in the run's order.
func Pooled(res *Results) (cs []int, series map[int][]Series) {
	series = map[int][]Series{}
	rows := Rows(res)
	for _, r := range rows {
		if !slices.Contains(cs, r.C) {
			cs = append(cs, r.C)
		}
		var us []int64
		for _, c := range res.Cells {
			if c.Scenario == r.Scenario.Name && c.C == r.C {
				us = append(us, c.LatenciesUs...)
			}
		}
		slices.Sort(us)
		series[r.C] = append(series[r.C], Series{Scenario: r.Scenario, Us: us})
	}
	slices.Sort(cs)
	return cs, series
}

// Chart draws the latency CDFs, one panel per C, and writes a PNG.
func Chart(w io.Writer, res *Results) error {
	cs, series := Pooled(res)
	if len(cs) == 0 {
		return fmt.Errorf("drawing the chart: no cells")
	}
	colors := map[string]color.RGBA{}
	names := []ScenarioInfo{}
	for _, s := range res.Run.Scenarios {
		names = append(names, s)
	}
	for _, c := range cs {
		for _, s := range series[c] {
			if !slices.ContainsFunc(names, func(n ScenarioInfo) bool { return n.Name == s.Scenario.Name }) {
				names = append(names, s.Scenario)
			}
		}
	}
	for i, n := range names {
		colors[n.Name] = palette[i%len(palette)]
	}
	img := image.NewRGBA(image.Rect(0, 0, chartWidth, panelHeight*len(cs)))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for i, c := range cs {
		drawPanel(img, image.Rect(0, i*panelHeight, chartWidth, (i+1)*panelHeight), c, series[c], colors)
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("encoding the chart: %w", err)
	}
	return nil
}

var (
	axisColor = color.RGBA{0x44, 0x44, 0x44, 0xff}
	gridColor = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
)

func drawPanel(img *image.RGBA, r image.Rectangle, c int, ss []Series, colors map[string]color.RGBA) {
	plot := image.Rect(r.Min.X+marginLeft, r.Min.Y+marginTop, r.Max.X-marginRight, r.Max.Y-marginBottom)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		if len(s.Us) == 0 {
			continue
		}
		lo = math.Min(lo, float64(s.Us[0]))
		hi = math.Max(hi, float64(s.Us[len(s.Us)-1]))
	}
	text(img, r.Min.X+marginLeft, r.Min.Y+20, axisColor, fmt.Sprintf("C = %d: fraction of creates at or below a latency (nines scale)", c))
	if math.IsInf(lo, 0) {
		text(img, plot.Min.X+10, plot.Min.Y+20, axisColor, "no samples")
		return
	}
	// Log scale over whole decades of milliseconds around the samples.
	loMs, hiMs := lo/1000, hi/1000
	x0 := math.Floor(math.Log10(math.Max(loMs, 0.01)))
	x1 := math.Ceil(math.Log10(math.Max(hiMs, 0.01)))
	if x1 <= x0 {
		x1 = x0 + 1
	}
	xAt := func(ms float64) int {
		f := (math.Log10(math.Max(ms, 1e-3)) - x0) / (x1 - x0)
		return plot.Min.X + int(math.Round(f*float64(plot.Dx())))
	}
	// The fraction on a "nines" scale, -log10(1 - q), up to 0.999: the
	// tail gets as much room as the body.
	yAt := func(q float64) int {
		f := math.Min(-math.Log10(math.Max(1-q, 1e-9)), maxNines) / maxNines
		return plot.Max.Y - int(math.Round(f*float64(plot.Dy())))
	}
	for _, q := range []float64{0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999} {
		hline(img, plot.Min.X, plot.Max.X, yAt(q), gridColor)
	}
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999} {
		text(img, r.Min.X+8, yAt(q)+4, axisColor, strconv.FormatFloat(q, 'f', -1, 64))
	}
	for d := x0; d <= x1; d++ {
		base := math.Pow(10, d)
		for _, m := range []float64{1, 2, 5} {
			ms := base * m
			if math.Log10(ms) > x1+1e-9 {
				break
			}
			x := xAt(ms)
			vline(img, x, plot.Min.Y, plot.Max.Y, gridColor)
			text(img, x-len(msLabel(ms))*7/2, plot.Max.Y+16, axisColor, msLabel(ms))
		}
	}
	text(img, plot.Min.X+plot.Dx()/2-60, plot.Max.Y+34, axisColor, "latency, ms (log scale)")
	// Axes.
	hline(img, plot.Min.X, plot.Max.X, plot.Max.Y, axisColor)
	vline(img, plot.Min.X, plot.Min.Y, plot.Max.Y, axisColor)
	// Curves: the empirical CDF, one point per horizontal pixel.
	for _, s := range ss {
		n := len(s.Us)
		if n == 0 {
			continue
		}
		col := colors[s.Scenario.Name]
		px, py := -1, -1
		for x := plot.Min.X; x <= plot.Max.X; x++ {
			f := float64(x-plot.Min.X) / float64(plot.Dx())
			us := math.Pow(10, x0+f*(x1-x0)) * 1000
			k, _ := slices.BinarySearch(s.Us, int64(math.Floor(us))+1)
			if k == 0 {
				continue
			}
			y := yAt(float64(k) / float64(n))
			if px >= 0 {
				line(img, px, py, x, y, col)
			}
			px, py = x, y
		}
	}
	// Legend, with each scenario's p50 / p99.
	ly := plot.Min.Y + 4
	for _, s := range ss {
		if len(s.Us) == 0 {
			continue
		}
		col := colors[s.Scenario.Name]
		for dy := 0; dy < 3; dy++ {
			hline(img, plot.Max.X+14, plot.Max.X+34, ly+dy, col)
		}
		p50 := float64(s.Us[(len(s.Us)-1)/2]) / 1000
		p99 := float64(s.Us[int(math.Ceil(0.99*float64(len(s.Us))))-1]) / 1000
		text(img, plot.Max.X+40, ly+5, axisColor, s.Scenario.Name)
		text(img, plot.Max.X+40, ly+19, gridText, fmt.Sprintf("p50 %s  p99 %s ms", num(p50), num(p99)))
		ly += 34
	}
}

var gridText = color.RGBA{0x77, 0x77, 0x77, 0xff}

func msLabel(ms float64) string {
	if ms < 1 {
		return fmt.Sprintf("%g", math.Round(ms*1000)/1000)
	}
	return fmt.Sprintf("%.0f", ms)
}

func text(img *image.RGBA, x, y int, col color.Color, s string) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(col), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func hline(img *image.RGBA, x0, x1, y int, col color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, col)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, col color.Color) {
	for y := y0; y <= y1; y++ {
		img.Set(x, y, col)
	}
}

// line draws a 2-pixel-thick segment (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, col color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.Set(x0, y0, col)
		img.Set(x0+1, y0, col)
		img.Set(x0, y0+1, col)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func sign(x int) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}
